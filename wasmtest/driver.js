'use strict';
// Opens one page in a headless browser and waits until the page says it is
// done, relaying its console to stderr.
//
//   node driver.js chromium|firefox URL [SECONDS] [--until-text TEXT]
//
// Chromium is Debian's /usr/bin/chromium, driven by playwright-core over
// CDP, as interop/browser.js does; Firefox is Debian's /usr/bin/firefox-esr,
// driven by puppeteer-core over WebDriver BiDi (playwright-core can drive
// only its own Firefox builds). Neither tool downloads anything: both are
// given the executable, and each run gets a new empty profile (playwright
// makes Chromium's; Firefox's is made here). Override the
// executables with WASMTEST_CHROMIUM and WASMTEST_FIREFOX.
//
// The page is done when it sets window.wasmtestDone (wasmtest/index.html
// does once the Go program has exited), or, with --until-text, when the
// page's text contains TEXT. The driver then prints "done" and the page's
// text to stdout and exits 0; on a timeout, a crash or a page error before
// the end it exits 1. It always closes the browser and removes the
// profile, and stops by itself after SECONDS (default 240).

const fs = require('fs');
const os = require('os');
const path = require('path');

const [which, url, secondsArg] = process.argv.slice(2);
const untilIdx = process.argv.indexOf('--until-text');
const untilText = untilIdx > 0 ? process.argv[untilIdx + 1] : null;
const seconds = Number(secondsArg) > 0 ? Number(secondsArg) : 240;
const deadline = Date.now() + seconds * 1000;

function log(...args) { console.error(`driver[${which}]:`, ...args); }

async function launch(profile) {
  if (which === 'chromium') {
    const { chromium } = require('playwright-core');
    const browser = await chromium.launch({
      executablePath: process.env.WASMTEST_CHROMIUM || '/usr/bin/chromium',
      headless: true,
      timeout: 60000,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      // playwright gives the browser a new empty --user-data-dir of its
      // own in the temporary directory, and removes it on close.
    });
    const page = await browser.newPage();
    return { browser, page, version: browser.version() };
  }
  if (which === 'firefox') {
    const puppeteer = require('puppeteer-core');
    const browser = await puppeteer.launch({
      browser: 'firefox',
      executablePath: process.env.WASMTEST_FIREFOX || '/usr/bin/firefox-esr',
      headless: true,
      timeout: 60000,
      userDataDir: profile,
      extraPrefsFirefox: {
        // The machine's network is closed: no update, telemetry,
        // captive-portal or safe-browsing traffic.
        'app.update.enabled': false,
        'network.captive-portal-service.enabled': false,
        'network.connectivity-service.enabled': false,
        'browser.safebrowsing.malware.enabled': false,
        'browser.safebrowsing.phishing.enabled': false,
        'datareporting.policy.dataSubmissionEnabled': false,
        'toolkit.telemetry.enabled': false,
        'extensions.update.enabled': false,
        'network.http.http3.enable': false,
      },
    });
    const page = await browser.newPage();
    return { browser, page, version: await browser.version() };
  }
  throw new Error(`unknown browser ${which}: want chromium or firefox`);
}

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), `wasmtest-${which}-`));
  let browser;
  let code = 1;
  const killer = setTimeout(() => {
    log(`still running after ${seconds} s: giving up`);
    process.exit(1); // playwright and puppeteer kill their browser on exit
  }, seconds * 1000 + 20000);
  try {
    const b = await launch(profile);
    browser = b.browser;
    const page = b.page;
    log(`${b.version}, ${url}`);
    page.on('console', (msg) => {
      const text = typeof msg.text === 'function' ? msg.text() : String(msg.text);
      console.error(`page[${which}]: ${text}`);
    });
    page.on('pageerror', (err) => console.error(`page[${which}] error: ${err && err.message || err}`));
    await page.goto(url, { timeout: 30000 });
    const opts = { timeout: Math.max(1000, deadline - Date.now()), polling: 100 };
    const until = (t) => (t === null ? window.wasmtestDone === true : !!document.body && document.body.innerText.includes(t));
    // playwright takes (fn, arg, options), puppeteer (fn, options, ...args).
    if (which === 'chromium') await page.waitForFunction(until, untilText, opts);
    else await page.waitForFunction(until, opts, untilText);
    const text = await page.evaluate(() => document.body ? document.body.innerText : '');
    const exit = await page.evaluate(() => window.wasmtestExit);
    console.log('done');
    console.log(text);
    code = exit === undefined || exit === 0 ? 0 : 1;
    if (code) log(`the Go program exited with status ${exit}`);
  } catch (err) {
    log(`${err && err.message ? err.message.split('\n')[0] : err}`);
  } finally {
    if (browser) await browser.close().catch((err) => log('close:', err.message));
    fs.rmSync(profile, { recursive: true, force: true });
    clearTimeout(killer);
  }
  process.exit(code);
}

main();
