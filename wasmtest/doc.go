// Package wasmtest tests the js/wasm build of the websocket package in real
// browsers: TestBrowsers builds ./page with GOOS=js GOARCH=wasm and runs it
// in headless Chromium and Firefox against the library's own server, and
// TestJSAPI checks that the exported API of the js build is a subset of the
// native one, with the same signatures. run.sh installs what the browser
// tests need and runs them, with the js vet and build of the module, for
// CI. The package itself has no code.
package wasmtest
