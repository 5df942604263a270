// echo.cpp: a uWebSockets echo server, the "practical limit" column of
// wsbench's echo and idle parts. Our own program on the public uWS API; it
// is compiled by bench/uws/build.sh against the uWebSockets and uSockets
// sources of a tarball extracted at build time (nothing of uWS is kept in
// this repository).
//
//   echo PORT [-compress off|shared|dedicated]
//
// Listens on 127.0.0.1:PORT (0: any free port), prints one line
// "ready 127.0.0.1:PORT" on stdout once it listens, and echoes every
// message with its own opcode. Exits on SIGTERM or SIGINT, and by itself
// when its parent dies (the harness also sets a parent-death signal).
//
// Settings chosen so that the server never drops, closes or pings by
// itself during a benchmark: compression off (the default; "shared" is
// uWS's shared compressor and decompressor, i.e. no context takeover,
// "dedicated" keeps a context per connection both ways), messages up to
// 64 MiB, no idle timeout, no automatic pings, no backpressure limit (every
// echo is buffered rather than dropped).

#include "App.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <sys/prctl.h>
#include <unistd.h>

namespace {

struct PerSocketData {};

void onSignal(int) {
    // Nothing to flush: the kernel closes every socket. _exit is
    // async-signal-safe, unlike anything that touches the event loop.
    _exit(0);
}

int usage() {
    std::fprintf(stderr, "usage: echo PORT [-compress off|shared|dedicated]\n");
    return 2;
}

} // namespace

int main(int argc, char **argv) {
    if (argc < 2) {
        return usage();
    }
    char *end = nullptr;
    long port = std::strtol(argv[1], &end, 10);
    if (*argv[1] == '\0' || *end != '\0' || port < 0 || port > 65535) {
        return usage();
    }
    uWS::CompressOptions compression = uWS::DISABLED;
    for (int i = 2; i < argc; i++) {
        std::string_view a = argv[i];
        if ((a == "-compress" || a == "--compress") && i + 1 < argc) {
            std::string_view v = argv[++i];
            if (v == "off") {
                compression = uWS::DISABLED;
            } else if (v == "shared") {
                compression = uWS::CompressOptions(uWS::SHARED_COMPRESSOR | uWS::SHARED_DECOMPRESSOR);
            } else if (v == "dedicated") {
                compression = uWS::CompressOptions(uWS::DEDICATED_COMPRESSOR | uWS::DEDICATED_DECOMPRESSOR);
            } else {
                return usage();
            }
        } else {
            return usage();
        }
    }
#ifdef UWS_NO_ZLIB
    if (compression != uWS::DISABLED) {
        std::fprintf(stderr, "echo: built without zlib (UWS_NO_ZLIB): no compression\n");
        return 2;
    }
#endif

    std::signal(SIGTERM, onSignal);
    std::signal(SIGINT, onSignal);
    // Die with the process that started us, whoever it is.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) {
        return 1;
    }

    uWS::App()
        .ws<PerSocketData>("/*", {
            .compression = compression,
            .maxPayloadLength = 64 * 1024 * 1024,
            .idleTimeout = 0,
            .maxBackpressure = 0,
            .closeOnBackpressureLimit = false,
            .resetIdleTimeoutOnSend = false,
            .sendPingsAutomatically = false,
            .message = [compression](auto *ws, std::string_view message, uWS::OpCode opCode) {
                ws->send(message, opCode, compression != uWS::DISABLED);
            },
        })
        .listen("127.0.0.1", int(port), [](us_listen_socket_t *ls) {
            if (!ls) {
                std::fprintf(stderr, "echo: cannot listen\n");
                std::exit(1);
            }
            int p = us_socket_local_port(0, (us_socket_t *) ls);
            std::printf("ready 127.0.0.1:%d\n", p);
            std::fflush(stdout);
        })
        .run();
    return 0;
}
