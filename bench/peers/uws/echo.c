/* peer-uws: an echo server on uWebSockets v20 through its C API
 * (uWebSockets' capi/libuwebsockets.h, exported by socketify's prebuilt
 * libsocketify; uSockets runs on a libuv event loop there). Built by
 * build.sh. The declarations below are the subset of that header this server
 * uses, as socketify 0.0.31 declares them (src/socketify/native.py): the
 * struct layouts must match the library's.
 *
 *   peer-uws [--port P] [--threads 1] [--deflate]
 *
 * Echoes every message with its opcode, like the Rust peers; accepts messages
 * up to 16 MiB; --deflate negotiates permessage-deflate (dedicated compressor
 * and decompressor, as uWebSockets' own Autobahn server does) and compresses
 * replies. Prints "listening on ws://ADDR" once bound. SIGTERM ends it. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct us_socket_context_options_t {
    const char *key_file_name, *cert_file_name, *passphrase, *dh_params_file_name,
        *ca_file_name, *ssl_ciphers;
    int ssl_prefer_low_memory_usage;
};
struct us_listen_socket_t;
typedef enum {
    DISABLED = 0,
    DEDICATED_DECOMPRESSOR = 15 << 8,
    DEDICATED_COMPRESSOR = 15 << 4 | 8
} uws_compress_options_t;
typedef enum { CONTINUATION = 0, TEXT = 1, BINARY = 2, CLOSE = 8, PING = 9, PONG = 10 } uws_opcode_t;
typedef enum { BACKPRESSURE, SUCCESS, DROPPED } uws_sendstatus_t;
typedef struct {
    int port;
    const char *host;
    int options;
} uws_app_listen_config_t;
typedef struct uws_app_s uws_app_t;
typedef struct uws_req_s uws_req_t;
typedef struct uws_res_s uws_res_t;
typedef struct uws_socket_context_s uws_socket_context_t;
typedef struct uws_websocket_s uws_websocket_t;
typedef void (*uws_websocket_handler)(uws_websocket_t *, void *);
typedef void (*uws_websocket_message_handler)(uws_websocket_t *, const char *, size_t, uws_opcode_t, void *);
typedef void (*uws_websocket_ping_pong_handler)(uws_websocket_t *, const char *, size_t, void *);
typedef void (*uws_websocket_close_handler)(uws_websocket_t *, int, const char *, size_t, void *);
typedef void (*uws_websocket_upgrade_handler)(uws_res_t *, uws_req_t *, uws_socket_context_t *, void *);
typedef void (*uws_websocket_subscription_handler)(uws_websocket_t *, const char *, size_t, int, int, void *);
typedef struct {
    uws_compress_options_t compression;
    unsigned int maxPayloadLength;
    unsigned short idleTimeout;
    unsigned int maxBackpressure;
    bool closeOnBackpressureLimit;
    bool resetIdleTimeoutOnSend;
    bool sendPingsAutomatically;
    unsigned short maxLifetime;
    uws_websocket_upgrade_handler upgrade;
    uws_websocket_handler open;
    uws_websocket_message_handler message;
    uws_websocket_handler drain;
    uws_websocket_ping_pong_handler ping;
    uws_websocket_ping_pong_handler pong;
    uws_websocket_close_handler close;
    uws_websocket_subscription_handler subscription;
} uws_socket_behavior_t;
typedef void (*uws_listen_handler)(struct us_listen_socket_t *, uws_app_listen_config_t, void *);

uws_app_t *uws_create_app(int ssl, struct us_socket_context_options_t options);
bool uws_constructor_failed(int ssl, uws_app_t *app);
void uws_ws(int ssl, uws_app_t *app, const char *pattern, uws_socket_behavior_t behavior, void *user_data);
void uws_app_listen_with_config(int ssl, uws_app_t *app, uws_app_listen_config_t config,
                                uws_listen_handler handler, void *user_data);
void uws_app_run(int ssl, uws_app_t *app);
uws_sendstatus_t uws_ws_send_with_options(int ssl, uws_websocket_t *ws, const char *message, size_t length,
                                          uws_opcode_t opcode, bool compress, bool fin);

/* The Rust peers' limit (ringws-peers' MAX_MESSAGE). */
#define MAX_MESSAGE (16u << 20)

static bool deflate;

static void on_message(uws_websocket_t *ws, const char *msg, size_t len, uws_opcode_t op, void *user) {
    (void)user;
    /* Inside the message handler the socket is corked: every reply of one
     * read goes out in one send, as in uWebSockets' C++ EchoServer. */
    uws_ws_send_with_options(0, ws, msg, len, op, deflate, true);
}

static void on_listen(struct us_listen_socket_t *ls, uws_app_listen_config_t config, void *user) {
    (void)user;
    if (!ls) {
        fprintf(stderr, "peer-uws: cannot listen on %s:%d\n", config.host, config.port);
        exit(1);
    }
    printf("listening on ws://%s:%d\n", config.host, config.port);
    fflush(stdout);
}

static void usage(int code) {
    fputs("peer-uws [--port P] [--threads 1] [--deflate]: uWebSockets v20 echo server\n", stderr);
    exit(code);
}

int main(int argc, char **argv) {
    int port = 9001;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--port") && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else if (!strcmp(a, "--threads") && i + 1 < argc) {
            if (atoi(argv[++i]) != 1) {
                fputs("peer-uws: one thread only (one uWebSockets app per thread)\n", stderr);
                return 2;
            }
        } else if (!strcmp(a, "--deflate")) {
            deflate = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(0);
        } else {
            usage(2);
        }
    }
    if (port <= 0 || port > 65535) usage(2);

    struct us_socket_context_options_t opts;
    memset(&opts, 0, sizeof opts);
    uws_app_t *app = uws_create_app(0, opts);
    if (!app || uws_constructor_failed(0, app)) {
        fputs("peer-uws: cannot create the app\n", stderr);
        return 1;
    }
    uws_socket_behavior_t b;
    memset(&b, 0, sizeof b);
    b.compression = deflate ? (uws_compress_options_t)(DEDICATED_COMPRESSOR | DEDICATED_DECOMPRESSOR) : DISABLED;
    b.maxPayloadLength = MAX_MESSAGE;
    b.idleTimeout = 120;
    /* Above this much unsent data a send is dropped: far above what any
     * benchmark cell keeps in flight (depth x size per connection). */
    b.maxBackpressure = 1u << 30;
    b.sendPingsAutomatically = true;
    b.message = on_message;
    uws_ws(0, app, "/*", b, NULL);
    uws_app_listen_config_t cfg = {port, "127.0.0.1", 0};
    uws_app_listen_with_config(0, app, cfg, on_listen, NULL);
    uws_app_run(0, app);
    return 0;
}
