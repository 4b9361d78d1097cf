/* ufidcert-dpifdrv: OVS's userspace datapath (dpif-netdev) driven in-process
 * through OVS's own dpif API, served as JSON lines on stdin/stdout.
 *
 * One request per line in, one reply per line out; README.md in this
 * directory is the protocol reference.  Keys, masks and actions travel as hex
 * netlink attribute streams (OVS_KEY_ATTR_* / OVS_ACTION_ATTR_*), UFIDs as
 * the 32 hex digits of the ovs_u128 in memory order, errors as positive errno
 * numbers.  stdout carries protocol lines only: OVS's logging goes to stderr
 * (console) at WARN and syslog is off.
 *
 * Everything runs on this one thread: the dpif is of type "dummy" (the same
 * lib/dpif-netdev.c code as "netdev", without tap devices), its ports are
 * plain "dummy" netdevs whose receive queues dpif_netdev_run() polls on the
 * non-PMD thread (called through dpif_run()), and the upcall callback
 * registered with dpif_register_upcall_cb() therefore runs inside our own
 * dpif_run()/dpif_operate() calls.  Frames enter through each port's
 * "pstream" option (lib/netdev-dummy.c: a passive unix socket whose stream
 * carries frames as a 2-byte big-endian length then the bytes). */

#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dp-packet.h"
#include "dpif.h"
#include "dummy.h"
#include "fatal-signal.h"
#include "flow.h"
#include "hash.h"
#include "netdev.h"
#include "odp-util.h"
#include "ovs-rcu.h"
#include "smap.h"
#include "util.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/json.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/shash.h"
#include "openvswitch/vlog.h"

/* OVS's internal headers (those under lib/) are no stable API.  The Makefile derives
 * UFC_OVS_VERSION (major * 10000 + minor * 100 + patch) from config.h's
 * PACKAGE_VERSION, because OVS's own version header carries strings only. */
#ifndef UFC_OVS_VERSION
#error "UFC_OVS_VERSION is not defined: build with the Makefile in this directory"
#endif

#define MAX_PORTS 64
#define MAX_UPCALLS 4096
#define MAX_OPS 4096
#define INJECT_POLLS 2000

/* What dpif-netdev can put in a flow key: lib/dpif-netdev.c dp_netdev_support,
 * which it uses itself to render the flow of an upcall as a key. */
static const struct odp_support ufc_support = {
    .max_vlan_headers = SIZE_MAX,
    .max_mpls_depth = SIZE_MAX,
    .recirc = true,
    .ct_state = true,
    .ct_zone = true,
    .ct_mark = true,
    .ct_label = true,
    .ct_state_nat = true,
    .ct_orig_tuple = true,
    .ct_orig_tuple6 = true,
};

struct ufc_port {
    bool used;
    odp_port_t no;
    char name[16];
    char path[256];
    struct netdev *netdev;
    int fd; /* Our end of the port's pstream, -1 until the first inject. */
};

struct ufc_upcall {
    enum dpif_upcall_type type;
    struct ofpbuf packet;
    struct ofpbuf key;
    struct ofpbuf userdata;
    bool has_userdata;
    ovs_u128 ufid;
    uint32_t in_port;
};

static struct dpif *dpif;
static struct ufc_port ports[MAX_PORTS];
static struct ufc_upcall upcalls[MAX_UPCALLS];
static size_t upcall_head, n_upcalls;
static uint64_t n_upcalls_lost;
static char *sockdir;
static bool own_sockdir;

/* --- encoding ------------------------------------------------------------ */

static void
put_hex(struct ds *s, const void *data_, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *data = data_;

    ds_put_char(s, '"');
    for (size_t i = 0; i < n; i++) {
        ds_put_char(s, digits[data[i] >> 4]);
        ds_put_char(s, digits[data[i] & 15]);
    }
    ds_put_char(s, '"');
}

static void
put_hex_or_null(struct ds *s, const void *data, size_t n)
{
    if (data) {
        put_hex(s, data, n);
    } else {
        ds_put_cstr(s, "null");
    }
}

static void
put_stats(struct ds *s, const struct dpif_flow_stats *st)
{
    ds_put_format(s, "{\"n_packets\":%"PRIu64",\"n_bytes\":%"PRIu64
                  ",\"used\":%lld,\"tcp_flags\":%u}",
                  st->n_packets, st->n_bytes, st->used, st->tcp_flags);
}

static void
put_flow(struct ds *s, const struct dpif_flow *f)
{
    ds_put_cstr(s, "{\"key\":");
    put_hex_or_null(s, f->key, f->key_len);
    ds_put_cstr(s, ",\"mask\":");
    put_hex_or_null(s, f->mask, f->mask_len);
    ds_put_cstr(s, ",\"actions\":");
    put_hex_or_null(s, f->actions, f->actions_len);
    ds_put_cstr(s, ",\"ufid\":");
    put_hex(s, &f->ufid, sizeof f->ufid);
    ds_put_format(s, ",\"ufid_present\":%s,\"pmd_id\":%u,\"stats\":",
                  f->ufid_present ? "true" : "false", f->pmd_id);
    put_stats(s, &f->stats);
    ds_put_char(s, '}');
}

/* --- decoding ------------------------------------------------------------- */

/* 3.6 replaced the json_array() accessor by json_array_size()/_at()
 * (include/openvswitch/json.h). */
static size_t
array_size(const struct json *j)
{
#if UFC_OVS_VERSION >= 30600
    return json_array_size(j);
#else
    return json_array(j)->n;
#endif
}

static const struct json *
array_at(const struct json *j, size_t i)
{
#if UFC_OVS_VERSION >= 30600
    return json_array_at(j, i);
#else
    return json_array(j)->elems[i];
#endif
}

/* A request that cannot be understood: the reply carries EPROTO and 'why'. */
struct ufc_bad {
    const char *why;
};

static int
hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    } else if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static const struct json *
member(const struct json *obj, const char *name)
{
    return obj->type == JSON_OBJECT ? shash_find_data(json_object(obj), name)
                                    : NULL;
}

/* Appends the bytes of hex member 'name' of 'obj' to 'out'.  Returns false
 * (with 'bad' set) if it is present but not a hex string; '*present' says
 * whether it was there and not null. */
static bool
get_hex(const struct json *obj, const char *name, struct ofpbuf *out,
        bool *present, struct ufc_bad *bad)
{
    const struct json *j = member(obj, name);

    *present = j && j->type != JSON_NULL;
    if (!*present) {
        return true;
    }
    if (j->type != JSON_STRING) {
        bad->why = "a hex member is not a string";
        return false;
    }
    const char *h = json_string(j);
    size_t n = strlen(h);
    if (n % 2) {
        bad->why = "a hex member has an odd number of digits";
        return false;
    }
    for (size_t i = 0; i < n; i += 2) {
        int hi = hexval(h[i]), lo = hexval(h[i + 1]);
        if (hi < 0 || lo < 0) {
            bad->why = "a hex member has a non-hex digit";
            return false;
        }
        ofpbuf_put(out, &(uint8_t) { hi << 4 | lo }, 1);
    }
    return true;
}

static bool
get_int(const struct json *obj, const char *name, long long min, long long max,
        long long dflt, long long *out, struct ufc_bad *bad)
{
    const struct json *j = member(obj, name);

    if (!j || j->type == JSON_NULL) {
        *out = dflt;
        return true;
    }
    if (j->type != JSON_INTEGER || json_integer(j) < min
        || json_integer(j) > max) {
        bad->why = "an integer member is missing, not an integer or out of range";
        return false;
    }
    *out = json_integer(j);
    return true;
}

static bool
get_bool(const struct json *obj, const char *name, bool *out)
{
    const struct json *j = member(obj, name);

    *out = j && j->type == JSON_TRUE;
    return !j || j->type == JSON_TRUE || j->type == JSON_FALSE
           || j->type == JSON_NULL;
}

static bool
get_ufid(const struct json *obj, ovs_u128 *ufid, bool *present,
         struct ufc_bad *bad)
{
    uint64_t stub[4];
    struct ofpbuf buf = OFPBUF_STUB_INITIALIZER(stub);
    bool ok = get_hex(obj, "ufid", &buf, present, bad);

    if (ok && *present) {
        if (buf.size != sizeof *ufid) {
            /* lib/dpif.h: a UFID is an ovs_u128; nothing else can be sent. */
            bad->why = "a ufid must be 16 bytes (32 hex digits)";
            ok = false;
        } else {
            memcpy(ufid, buf.data, sizeof *ufid);
        }
    }
    ofpbuf_uninit(&buf);
    return ok;
}

/* --- upcalls -------------------------------------------------------------- */

/* The upcall callback: records the upcall for the client and installs
 * nothing (ENOSPC: lib/dpif-netdev.c handle_packet_upcall then executes the
 * empty actions, i.e. drops, and skips the flow put).  The in_port mask is
 * made exact even so, because a put of a flow whose in_port is not exact
 * asserts in dpif-netdev. */
static int
upcall_cb(const struct dp_packet *packet, const struct flow *flow,
          ovs_u128 *ufid, unsigned pmd_id OVS_UNUSED,
          enum dpif_upcall_type type, const struct nlattr *userdata,
          struct ofpbuf *actions OVS_UNUSED, struct flow_wildcards *wc,
          struct ofpbuf *put_actions OVS_UNUSED, void *aux OVS_UNUSED)
{
    if (wc) {
        flow_wildcards_init_for_packet(wc, flow);
    }
    if (n_upcalls >= MAX_UPCALLS) {
        n_upcalls_lost++;
        return ENOSPC;
    }
    struct ufc_upcall *u = &upcalls[(upcall_head + n_upcalls) % MAX_UPCALLS];
    n_upcalls++;
    u->type = type;
    ofpbuf_init(&u->packet, dp_packet_size(packet));
    ofpbuf_put(&u->packet, dp_packet_data(packet), dp_packet_size(packet));
    ofpbuf_init(&u->key, 256);
    struct odp_flow_key_parms parms = {
        .flow = flow,
        .mask = NULL,
        .support = ufc_support,
    };
    odp_flow_key_from_flow(&parms, &u->key);
    u->has_userdata = userdata != NULL;
    ofpbuf_init(&u->userdata, 0);
    if (userdata) {
        ofpbuf_put(&u->userdata, nl_attr_get(userdata),
                   nl_attr_get_size(userdata));
    }
    u->ufid = ufid ? *ufid : (ovs_u128) { .u64 = { 0, 0 } };
    u->in_port = odp_to_u32(flow->in_port.odp_port);
    return type == DPIF_UC_MISS ? ENOSPC : 0;
}

static void
do_upcalls(const struct json *req, struct ds *out, struct ufc_bad *bad)
{
    long long max;

    if (!get_int(req, "max", 0, INT32_MAX, 64, &max, bad)) {
        return;
    }
    ds_put_cstr(out, "\"upcalls\":[");
    for (long long i = 0; i < max && n_upcalls; i++) {
        struct ufc_upcall *u = &upcalls[upcall_head];

        upcall_head = (upcall_head + 1) % MAX_UPCALLS;
        n_upcalls--;
        ds_put_format(out, "%s{\"type\":\"%s\",\"in_port\":%"PRIu32
                      ",\"packet\":", i ? "," : "",
                      u->type == DPIF_UC_MISS ? "miss" : "action",
                      u->in_port);
        put_hex(out, u->packet.data, u->packet.size);
        ds_put_cstr(out, ",\"key\":");
        put_hex(out, u->key.data, u->key.size);
        ds_put_cstr(out, ",\"ufid\":");
        put_hex(out, &u->ufid, sizeof u->ufid);
        ds_put_cstr(out, ",\"userdata\":");
        put_hex_or_null(out, u->has_userdata ? u->userdata.data : NULL,
                        u->userdata.size);
        ds_put_char(out, '}');
        ofpbuf_uninit(&u->packet);
        ofpbuf_uninit(&u->key);
        ofpbuf_uninit(&u->userdata);
    }
    ds_put_format(out, "],\"lost\":%"PRIu64, n_upcalls_lost);
}

/* --- flow operations ------------------------------------------------------ */

struct ufc_op {
    struct dpif_op op;
    struct ofpbuf key, mask, actions, packet_data;
    ovs_u128 ufid;
    struct dpif_flow_stats stats;
    struct ofpbuf get_buf;
    struct dpif_flow get_flow;
    struct flow flow;
    struct dp_packet *packet;
};

static void
ufc_op_uninit(struct ufc_op *o)
{
    ofpbuf_uninit(&o->key);
    ofpbuf_uninit(&o->mask);
    ofpbuf_uninit(&o->actions);
    ofpbuf_uninit(&o->packet_data);
    ofpbuf_uninit(&o->get_buf);
    dp_packet_delete(o->packet);
}

/* Fills 'o' from one element of an "operate" request's "ops". */
static bool
parse_op(const struct json *j, struct ufc_op *o, struct ufc_bad *bad)
{
    bool has_key, has_mask, has_actions, has_ufid, has_packet, terse;
    const struct json *type = member(j, "type");
    long long v;

    if (!type || type->type != JSON_STRING) {
        bad->why = "an op has no string member \"type\"";
        return false;
    }
    const char *t = json_string(type);
    if (!get_hex(j, "key", &o->key, &has_key, bad)
        || !get_hex(j, "mask", &o->mask, &has_mask, bad)
        || !get_hex(j, "actions", &o->actions, &has_actions, bad)
        || !get_hex(j, "packet", &o->packet_data, &has_packet, bad)
        || !get_ufid(j, &o->ufid, &has_ufid, bad)) {
        return false;
    }
    const ovs_u128 *ufid = has_ufid ? &o->ufid : NULL;
    const struct nlattr *key = has_key ? o->key.data : NULL;

    if (!strcmp(t, "put")) {
        if (!get_int(j, "flags", 0, UINT32_MAX, DPIF_FP_CREATE, &v, bad)) {
            return false;
        }
        o->op.type = DPIF_OP_FLOW_PUT;
        o->op.flow_put = (struct dpif_flow_put) {
            .flags = v,
            .key = key, .key_len = o->key.size,
            .mask = has_mask ? o->mask.data : NULL,
            .mask_len = o->mask.size,
            .actions = o->actions.data, .actions_len = o->actions.size,
            .ufid = ufid, .pmd_id = PMD_ID_NULL, .stats = &o->stats,
        };
    } else if (!strcmp(t, "get")) {
        o->op.type = DPIF_OP_FLOW_GET;
        ofpbuf_init(&o->get_buf, DPIF_FLOW_BUFSIZE);
        o->op.flow_get = (struct dpif_flow_get) {
            .key = key, .key_len = o->key.size, .ufid = ufid,
            .pmd_id = PMD_ID_NULL, .buffer = &o->get_buf,
            .flow = &o->get_flow,
        };
    } else if (!strcmp(t, "del")) {
        if (!get_bool(j, "terse", &terse)) {
            bad->why = "\"terse\" is not a boolean";
            return false;
        }
        o->op.type = DPIF_OP_FLOW_DEL;
        o->op.flow_del = (struct dpif_flow_del) {
            .key = key, .key_len = o->key.size, .ufid = ufid,
            .terse = terse, .pmd_id = PMD_ID_NULL, .stats = &o->stats,
        };
    } else if (!strcmp(t, "execute")) {
        if (!get_int(j, "in_port", 0, UINT32_MAX, -1, &v, bad)
            || v < 0 || !has_packet) {
            bad->why = "an execute needs \"packet\" and \"in_port\"";
            return false;
        }
        /* As ofproto does before dpif_execute(): the packet's metadata says
         * where it came from and 'flow' is what flow_extract() finds. */
        o->packet = dp_packet_clone_data(o->packet_data.data,
                                         o->packet_data.size);
        pkt_metadata_init(&o->packet->md, u32_to_odp(v));
        flow_extract(o->packet, &o->flow);
        o->op.type = DPIF_OP_EXECUTE;
        o->op.execute = (struct dpif_execute) {
            .actions = o->actions.data, .actions_len = o->actions.size,
            .needs_help = false, .probe = false, .mtu = 0,
            .flow = &o->flow, .packet = o->packet,
        };
    } else {
        bad->why = "an op's \"type\" is not put, get, del or execute";
        return false;
    }
    return true;
}

static void
do_operate(const struct json *req, struct ds *out, struct ufc_bad *bad)
{
    const struct json *ops = member(req, "ops");

    if (!ops || ops->type != JSON_ARRAY) {
        bad->why = "\"ops\" is not an array";
        return;
    }
    size_t n = array_size(ops);
    if (n > MAX_OPS) {
        bad->why = "too many ops in one request";
        return;
    }
    struct ufc_op *o = xcalloc(n ? n : 1, sizeof *o);
    struct dpif_op **opp = xcalloc(n ? n : 1, sizeof *opp);
    size_t parsed;

    for (parsed = 0; parsed < n; parsed++) {
        ofpbuf_init(&o[parsed].key, 0);
        ofpbuf_init(&o[parsed].mask, 0);
        ofpbuf_init(&o[parsed].actions, 0);
        ofpbuf_init(&o[parsed].packet_data, 0);
        ofpbuf_init(&o[parsed].get_buf, 0);
        if (!parse_op(array_at(ops, parsed), &o[parsed], bad)) {
            parsed++;
            goto out;
        }
        opp[parsed] = &o[parsed].op;
    }

    /* One dpif_operate() for the whole batch, as ofproto's handlers and
     * revalidators do (ofproto/ofproto-dpif-upcall.c). */
    dpif_operate(dpif, opp, n, DPIF_OFFLOAD_NEVER);

    ds_put_cstr(out, "\"results\":[");
    for (size_t i = 0; i < n; i++) {
        const struct dpif_op *op = &o[i].op;

        ds_put_format(out, "%s{\"error\":%d", i ? "," : "", op->error);
        if (!op->error) {
            if (op->type == DPIF_OP_FLOW_PUT || op->type == DPIF_OP_FLOW_DEL) {
                ds_put_cstr(out, ",\"stats\":");
                put_stats(out, &o[i].stats);
            } else if (op->type == DPIF_OP_FLOW_GET) {
                ds_put_cstr(out, ",\"flow\":");
                put_flow(out, &o[i].get_flow);
            }
        }
        ds_put_char(out, '}');
    }
    ds_put_char(out, ']');

out:
    for (size_t i = 0; i < parsed; i++) {
        ufc_op_uninit(&o[i]);
    }
    free(o);
    free(opp);
}

static void
do_dump(const struct json *req, struct ds *out, struct ufc_bad *bad)
{
    bool terse;

    if (!get_bool(req, "terse", &terse)) {
        bad->why = "\"terse\" is not a boolean";
        return;
    }
    struct dpif_flow_dump *dump = dpif_flow_dump_create(dpif, terse, NULL);
    struct dpif_flow_dump_thread *thread = dpif_flow_dump_thread_create(dump);
    struct dpif_flow flows[64];
    int n, total = 0;

    ds_put_cstr(out, "\"flows\":[");
    /* The flows of one batch point into the dump thread's buffers, valid
     * until the next dpif_flow_dump_next(): render each batch at once. */
    while ((n = dpif_flow_dump_next(thread, flows, ARRAY_SIZE(flows))) > 0) {
        for (int i = 0; i < n; i++) {
            if (total++) {
                ds_put_char(out, ',');
            }
            put_flow(out, &flows[i]);
        }
    }
    ds_put_char(out, ']');
    dpif_flow_dump_thread_destroy(thread);
    int error = dpif_flow_dump_destroy(dump);
    ds_put_format(out, ",\"dump_error\":%d", error);
}

/* --- ports and packets ---------------------------------------------------- */

static struct ufc_port *
find_port(odp_port_t no)
{
    for (size_t i = 0; i < MAX_PORTS; i++) {
        if (ports[i].used && ports[i].no == no) {
            return &ports[i];
        }
    }
    return NULL;
}

static int
do_port_add(const struct json *req, struct ds *out, struct ufc_bad *bad)
{
    const struct json *name = member(req, "name");
    struct ufc_port *p = NULL;

    if (!name || name->type != JSON_STRING
        || strlen(json_string(name)) >= sizeof p->name
        || !json_string(name)[0] || strchr(json_string(name), '/')) {
        bad->why = "\"name\" must be a string of 1-15 characters without '/'";
        return 0;
    }
    for (size_t i = 0; i < MAX_PORTS; i++) {
        if (ports[i].used && !strcmp(ports[i].name, json_string(name))) {
            /* Reconfiguring the existing netdev would move its socket. */
            return EEXIST;
        }
    }
    for (size_t i = 0; i < MAX_PORTS; i++) {
        if (!ports[i].used) {
            p = &ports[i];
            break;
        }
    }
    if (!p) {
        return E2BIG;
    }
    memset(p, 0, sizeof *p);
    ovs_strlcpy(p->name, json_string(name), sizeof p->name);
    snprintf(p->path, sizeof p->path, "%s/%s", sockdir, json_string(name));
    p->fd = -1;

    int error = netdev_open(p->name, "dummy", &p->netdev);
    if (error) {
        return error;
    }
    struct smap args = SMAP_INITIALIZER(&args);
    smap_add_format(&args, "pstream", "punix:%s", p->path);
    error = netdev_set_config(p->netdev, &args, NULL);
    smap_destroy(&args);
    if (!error) {
        p->no = ODPP_NONE;
        error = dpif_port_add(dpif, p->netdev, &p->no);
    }
    if (error) {
        netdev_close(p->netdev);
        unlink(p->path);
        return error;
    }
    p->used = true;
    ds_put_format(out, "\"port\":%"PRIu32, odp_to_u32(p->no));
    return 0;
}

static int
do_port_del(const struct json *req, struct ufc_bad *bad)
{
    long long v;

    if (!get_int(req, "port", 0, UINT32_MAX, -1, &v, bad) || v < 0) {
        bad->why = "\"port\" is required";
        return 0;
    }
    struct ufc_port *p = find_port(u32_to_odp(v));
    if (!p) {
        return ENOENT;
    }
    int error = dpif_port_del(dpif, p->no, false);
    if (error) {
        return error;
    }
    if (p->fd >= 0) {
        close(p->fd);
    }
    netdev_close(p->netdev);
    unlink(p->path);
    p->used = false;
    return 0;
}

static uint64_t
lookups(void)
{
    struct dpif_dp_stats st;

    memset(&st, 0, sizeof st);
    dpif_get_dp_stats(dpif, &st);
    return st.n_hit + st.n_missed + st.n_lost;
}

/* Frames a port sends (output actions) come back on our end of its stream;
 * nobody asks for them, so they are read away before they fill the socket. */
static void
drain_ports(void)
{
    char buf[4096];

    for (size_t i = 0; i < MAX_PORTS; i++) {
        if (ports[i].used && ports[i].fd >= 0) {
            while (recv(ports[i].fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
                continue;
            }
        }
    }
}

static void
run_once(void)
{
    netdev_run();
    dpif_run(dpif);
    drain_ports();
}

static int
do_inject(const struct json *req, struct ds *out, struct ufc_bad *bad)
{
    uint64_t stub[256];
    struct ofpbuf frame = OFPBUF_STUB_INITIALIZER(stub);
    bool has_packet;
    long long v;
    int error = 0;

    if (!get_int(req, "port", 0, UINT32_MAX, -1, &v, bad) || v < 0
        || !get_hex(req, "packet", &frame, &has_packet, bad) || !has_packet) {
        bad->why = bad->why ? bad->why : "inject needs \"port\" and \"packet\"";
        goto out;
    }
    struct ufc_port *p = find_port(u32_to_odp(v));
    if (!p) {
        error = ENOENT;
        goto out;
    }
    /* lib/netdev-dummy.c dummy_packet_stream_run: a frame shorter than an
     * Ethernet header ends the stream; a 2-byte length limits the size. */
    if (frame.size < ETH_HEADER_LEN || frame.size > UINT16_MAX) {
        error = EINVAL;
        ds_put_cstr(out, "\"msg\":\"netdev-dummy receives frames of 14..65535 bytes\",");
        goto out;
    }
    if (p->fd < 0) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        ovs_strlcpy(sun.sun_path, p->path, sizeof sun.sun_path);
        p->fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (p->fd < 0 || connect(p->fd, (struct sockaddr *) &sun, sizeof sun)) {
            error = errno;
            if (p->fd >= 0) {
                close(p->fd);
            }
            p->fd = -1;
            goto out;
        }
    }
    uint8_t hdr[2] = { frame.size >> 8, frame.size & 0xff };
    struct ofpbuf msg;
    ofpbuf_init(&msg, frame.size + 2);
    ofpbuf_put(&msg, hdr, 2);
    ofpbuf_put(&msg, frame.data, frame.size);
    uint64_t before = lookups();
    size_t done = 0;
    while (done < msg.size) {
        ssize_t w = write(p->fd, (uint8_t *) msg.data + done, msg.size - done);
        if (w < 0 && errno != EINTR) {
            error = errno;
            break;
        }
        done += w > 0 ? w : 0;
    }
    ofpbuf_uninit(&msg);
    if (!error) {
        /* One netdev_run() lets netdev-dummy accept and read the stream; one
         * dpif_run() polls the port's queue.  Loop until the datapath has
         * looked the frame up (hit, miss or lost), so a reply means done. */
        int i;
        for (i = 0; i < INJECT_POLLS && lookups() == before; i++) {
            run_once();
            if (i > 10 && lookups() == before) {
                struct timespec ts = { 0, 1000000 };
                nanosleep(&ts, NULL);
            }
        }
        if (lookups() == before) {
            error = ETIMEDOUT;
        }
    }
out:
    ofpbuf_uninit(&frame);
    return error;
}

static void
do_hash(const struct json *req, struct ds *out, struct ufc_bad *bad)
{
    struct ofpbuf data;
    bool present;
    long long basis;
    ovs_u128 h;

    ofpbuf_init(&data, 0);
    if (get_hex(req, "data", &data, &present, bad)
        && get_int(req, "basis", 0, UINT32_MAX, 0, &basis, bad)) {
        /* lib/hash.c hash_bytes128: OVS's MurmurHash3_x64_128 (UFIDs). */
        hash_bytes128(data.data, data.size, basis, &h);
        ds_put_cstr(out, "\"hash\":");
        put_hex(out, &h, sizeof h);
    }
    ofpbuf_uninit(&data);
}

/* Renders a key (and mask) as OVS prints it, for messages and reports. */
static void
do_format(const struct json *req, struct ds *out, struct ufc_bad *bad)
{
    struct ofpbuf key, mask;
    bool has_key, has_mask;
    struct ds text = DS_EMPTY_INITIALIZER;

    ofpbuf_init(&key, 0);
    ofpbuf_init(&mask, 0);
    if (get_hex(req, "key", &key, &has_key, bad)
        && get_hex(req, "mask", &mask, &has_mask, bad)) {
#if UFC_OVS_VERSION >= 30500
        /* 3.5 added skip_no_mask (lib/odp-util.h odp_flow_format). */
        odp_flow_format(key.data, key.size, has_mask ? mask.data : NULL,
                        mask.size, NULL, &text, true, false);
#else
        odp_flow_format(key.data, key.size, has_mask ? mask.data : NULL,
                        mask.size, NULL, &text, true);
#endif
        ds_put_cstr(out, "\"text\":");
        json_string_escape(ds_cstr(&text), out);
    }
    ds_destroy(&text);
    ofpbuf_uninit(&key);
    ofpbuf_uninit(&mask);
}

/* --- the loop ------------------------------------------------------------- */

static long long
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Handles one request line; returns false after "quit". */
static bool
handle(const char *line, struct ds *out)
{
    long long t0 = now_ns();
    struct ufc_bad bad = { NULL };
    struct json *req = json_from_string(line);
    const char *what = NULL;
    int error = 0;
    bool more = true;

    ds_clear(out);
    ds_put_char(out, '{');
    if (req->type == JSON_STRING) {
        /* lib/json.c json_from_string: a parse error comes back as a string. */
        bad.why = "not JSON";
    } else if (req->type != JSON_OBJECT || !member(req, "op")
               || member(req, "op")->type != JSON_STRING) {
        bad.why = "a request is an object with a string member \"op\"";
    } else {
        what = json_string(member(req, "op"));
        if (!strcmp(what, "operate")) {
            do_operate(req, out, &bad);
        } else if (!strcmp(what, "dump")) {
            do_dump(req, out, &bad);
        } else if (!strcmp(what, "flush")) {
            error = dpif_flow_flush(dpif);
        } else if (!strcmp(what, "port_add")) {
            error = do_port_add(req, out, &bad);
        } else if (!strcmp(what, "port_del")) {
            error = do_port_del(req, &bad);
        } else if (!strcmp(what, "inject")) {
            error = do_inject(req, out, &bad);
        } else if (!strcmp(what, "upcalls")) {
            do_upcalls(req, out, &bad);
        } else if (!strcmp(what, "hash")) {
            do_hash(req, out, &bad);
        } else if (!strcmp(what, "format")) {
            do_format(req, out, &bad);
        } else if (!strcmp(what, "stats")) {
            struct dpif_dp_stats st;
            memset(&st, 0, sizeof st);
            error = dpif_get_dp_stats(dpif, &st);
            ds_put_format(out, "\"hit\":%"PRIu64",\"missed\":%"PRIu64
                          ",\"lost\":%"PRIu64",\"flows\":%"PRIu64,
                          st.n_hit, st.n_missed, st.n_lost, st.n_flows);
        } else if (!strcmp(what, "quit")) {
            more = false;
        } else {
            bad.why = "unknown \"op\"";
        }
    }
    if (bad.why) {
        /* Whatever a half-parsed request put in the reply goes. */
        ds_clear(out);
        ds_put_format(out, "{\"error\":%d,\"msg\":", EPROTO);
        json_string_escape(bad.why, out);
    } else {
        if (out->length > 1 && out->string[out->length - 1] != ',') {
            ds_put_char(out, ',');
        }
        ds_put_format(out, "\"error\":%d", error);
    }
    ds_put_format(out, ",\"ns\":%lld}\n", now_ns() - t0);
    json_destroy(req);
    return more;
}

static void
cleanup(void)
{
    for (size_t i = 0; i < MAX_PORTS; i++) {
        if (ports[i].used) {
            unlink(ports[i].path);
        }
    }
    if (own_sockdir) {
        rmdir(sockdir);
    }
}

static void
usage(void)
{
    printf("usage: ufidcert-dpifdrv [--sockdir DIR] [--name DP] [-v SPEC]...\n"
           "Serves OVS's dpif-netdev (type \"dummy\") as JSON lines on\n"
           "stdin/stdout; see README.md.  OVS %s.\n", OVS_PACKAGE_VERSION);
}

int
main(int argc, char *argv[])
{
    static const struct option long_options[] = {
        { "sockdir", required_argument, NULL, 's' },
        { "name", required_argument, NULL, 'n' },
        { "verbose", required_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *name = "ufidcert";
    int c;

    set_program_name(argv[0]);
    /* A closed pipe must be a write error we see, not a SIGPIPE kill. */
    fatal_ignore_sigpipe();
    vlog_set_levels(NULL, VLF_SYSLOG, VLL_OFF);
    vlog_set_levels(NULL, VLF_CONSOLE, VLL_WARN);
    vlog_set_levels(NULL, VLF_FILE, VLL_OFF);

    while ((c = getopt_long(argc, argv, "v:h", long_options, NULL)) != -1) {
        switch (c) {
        case 's':
            sockdir = xstrdup(optarg);
            break;
        case 'n':
            name = optarg;
            break;
        case 'v':
            vlog_set_verbosity(optarg);
            break;
        case 'h':
            usage();
            return 0;
        default:
            return 2;
        }
    }
    if (!sockdir) {
        const char *tmp = getenv("TMPDIR");
        sockdir = xasprintf("%s/ufidcert-ovs-dpif-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        if (!mkdtemp(sockdir)) {
            fprintf(stderr, "ufidcert-dpifdrv: mkdtemp %s: %s\n", sockdir,
                    strerror(errno));
            return 1;
        }
        own_sockdir = true;
    }

    /* lib/dummy.c: registers the "dummy" netdev classes and dpif type. */
    dummy_enable("");
    int error = dpif_create_and_open(name, "dummy", &dpif);
    if (error) {
        printf("{\"ready\":false,\"error\":%d}\n", error);
        fflush(stdout);
        cleanup();
        return 1;
    }
    dpif_register_upcall_cb(dpif, upcall_cb, NULL);
    dpif_enable_upcall(dpif);
    printf("{\"ready\":true,\"version\":\"%s\",\"dp\":\"%s\",\"pid\":%ld,"
           "\"error\":0}\n", OVS_PACKAGE_VERSION, dpif_name(dpif),
           (long) getpid());
    fflush(stdout);

    struct ds out = DS_EMPTY_INITIALIZER;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    bool more = true;

    while (more && (len = getline(&line, &cap, stdin)) > 0) {
        if (line[len - 1] == '\n') {
            line[len - 1] = '\0';
        }
        more = handle(line, &out);
        if (fwrite(out.string, 1, out.length, stdout) != out.length
            || fflush(stdout)) {
            break; /* The client is gone. */
        }
        /* Lets RCU free what this request released (deleted flows). */
        ovsrcu_quiesce();
    }
    free(line);
    ds_destroy(&out);

    /* Without this, dpif_netdev's destruction asserts on the upcall lock
     * (lib/dpif-netdev.c dp_netdev_destroy_upcall_lock). */
    dpif_disable_upcall(dpif);
    dpif_delete(dpif);
    dpif_close(dpif);
    cleanup();
    return 0;
}
