"""Run wstest with its listening sockets bound to 127.0.0.1 only.

wstest (autobahntestsuite 0.8.2) calls autobahn's listenWS() without an
interface, which binds every interface. This launcher wraps listenWS so that
the fuzzingserver mode listens on loopback only, then hands over to wstest's
own command line (same arguments as `wstest`). Python 2.7.
"""
import sys

import autobahntestsuite.fuzzing as fuzzing

_listenWS = fuzzing.listenWS


def _listen_loopback(factory, contextFactory=None, backlog=50, interface='127.0.0.1'):
    return _listenWS(factory, contextFactory, backlog, interface or '127.0.0.1')


fuzzing.listenWS = _listen_loopback

from autobahntestsuite.wstest import run  # noqa: E402

if __name__ == '__main__':
    sys.argv[0] = 'wstest'
    run()
