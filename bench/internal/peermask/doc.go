// Package peermask holds verbatim copies of the masking routines of peer
// libraries that do not export them, so the mask benchmarks can compare
// them with this module's. Each file names its source, version and license;
// the license texts are in the LICENSE.* files of this directory. The only
// change to each routine is its name.
//
// gobwas/ws exports its routine (ws.Cipher), so it is called directly and
// not copied.
package peermask
