/* A byte-at-a-time frame receiver, the state machine of a UART protocol:
 * 0x7e delimits frames, 0x7d escapes the next byte (xor 0x20); a frame is
 * address, length, payload, CRC-8 (poly 0x07) over all of them. The
 * encoder writes frames the receiver accepts. */
#include <stdint.h>

#define EXPORT(name) __attribute__((export_name(name)))

#define FLAG 0x7e
#define ESC 0x7d
#define MAX_PAYLOAD 32

enum state { HUNT, ADDRESS, LENGTH, PAYLOAD, CHECK };
enum event { NONE, FRAME, BAD_CRC, BAD_LENGTH, ABORTED };

typedef struct {
    uint8_t state, escaped, address, length, got, crc;
    uint8_t payload[MAX_PAYLOAD];
    uint32_t frames, errors;
} receiver;

static uint8_t crc8(uint8_t crc, uint8_t byte) {
    crc ^= byte;
    for (int i = 0; i < 8; i++) crc = (crc & 0x80) ? (uint8_t)((crc << 1) ^ 0x07) : (uint8_t)(crc << 1);
    return crc;
}

EXPORT("rx_reset") void rx_reset(receiver *r) {
    r->state = HUNT;
    r->escaped = 0;
    r->frames = 0;
    r->errors = 0;
}

/* Feeds one byte; returns the event it completes. */
EXPORT("rx_byte") int32_t rx_byte(receiver *r, uint8_t byte) {
    if (byte == FLAG) {
        int aborted = r->state != HUNT && r->state != ADDRESS;
        r->state = ADDRESS;
        r->escaped = 0;
        r->crc = 0;
        if (aborted) {
            r->errors++;
            return ABORTED;
        }
        return NONE;
    }
    if (r->state == HUNT) return NONE;
    if (byte == ESC) {
        r->escaped = 1;
        return NONE;
    }
    if (r->escaped) {
        byte ^= 0x20;
        r->escaped = 0;
    }
    switch (r->state) {
    case ADDRESS:
        r->address = byte;
        r->crc = crc8(r->crc, byte);
        r->state = LENGTH;
        return NONE;
    case LENGTH:
        if (byte > MAX_PAYLOAD) {
            r->state = HUNT;
            r->errors++;
            return BAD_LENGTH;
        }
        r->length = byte;
        r->got = 0;
        r->crc = crc8(r->crc, byte);
        r->state = byte ? PAYLOAD : CHECK;
        return NONE;
    case PAYLOAD:
        r->payload[r->got++] = byte;
        r->crc = crc8(r->crc, byte);
        if (r->got == r->length) r->state = CHECK;
        return NONE;
    default:
        r->state = HUNT;
        if (byte != r->crc) {
            r->errors++;
            return BAD_CRC;
        }
        r->frames++;
        return FRAME;
    }
}

static uint32_t put_escaped(uint8_t *out, uint32_t o, uint8_t byte) {
    if (byte == FLAG || byte == ESC) {
        out[o++] = ESC;
        byte ^= 0x20;
    }
    out[o++] = byte;
    return o;
}

/* Encodes one frame into out (at least 2 * (n + 3) + 1 bytes); returns its length. */
EXPORT("tx_frame") uint32_t tx_frame(uint8_t address, const uint8_t *payload, uint8_t n, uint8_t *out) {
    uint32_t o = 0;
    uint8_t crc = crc8(crc8(0, address), n);
    out[o++] = FLAG;
    o = put_escaped(out, o, address);
    o = put_escaped(out, o, n);
    for (uint8_t i = 0; i < n; i++) {
        o = put_escaped(out, o, payload[i]);
        crc = crc8(crc, payload[i]);
    }
    o = put_escaped(out, o, crc);
    return o;
}

/* Known answers over a stream of five encoded frames (payloads of 0..4
 * times 7 bytes, byte j of frame k is 0x78 + j + k * k, so flags and escapes occur)
 * with frame 2's CRC flipped, a frame cut off by the next flag, and a
 * length of 40 in between: what = 0 good frames, 1 errors, 2 the sum of the
 * good payloads' bytes, 3 the events as a base-5 number, last event lowest. */
static receiver rx;
static uint8_t stream[512];

EXPORT("frames_kat") uint32_t frames_kat(uint32_t what) {
    uint8_t payload[MAX_PAYLOAD];
    uint32_t n = 0;
    for (uint32_t k = 0; k < 5; k++) {
        for (uint32_t j = 0; j < 7 * k; j++) payload[j] = (uint8_t)(0x78 + j + k * k);
        n += tx_frame((uint8_t)(0x10 + k), payload, (uint8_t)(7 * k), stream + n);
        if (k == 2) stream[n - 1] ^= 0x01;
        if (k == 3) {
            stream[n++] = FLAG;  /* cut off, then the same frame again */
            stream[n++] = 0x31;
            stream[n++] = 0x05;
            stream[n++] = FLAG;
            stream[n++] = 0x31;
            stream[n++] = 40;  /* too long */
            n += tx_frame((uint8_t)(0x10 + k), payload, (uint8_t)(7 * k), stream + n);
        }
    }
    rx_reset(&rx);
    uint32_t sum = 0, events = 0;
    for (uint32_t i = 0; i < n; i++) {
        int32_t e = rx_byte(&rx, stream[i]);
        if (e != NONE) events = events * 5 + (uint32_t)e;
        if (e == FRAME)
            for (uint32_t j = 0; j < rx.length; j++) sum += rx.payload[j];
    }
    switch (what) {
    case 0: return rx.frames;
    case 1: return rx.errors;
    case 2: return sum;
    default: return events;
    }
}
