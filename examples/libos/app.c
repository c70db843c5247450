/* The library-OS application component: each tick it reads a sensor over
 * MMIO, passes the sample through the kernel's channel under a semaphore and
 * logs, and runs a kernel task; everything it imports comes from the WIT world (app.h is generated). */
#include "app.h"

#define SENSOR 0x40000000u
#define LED 0x40000004u

static uint32_t ticks;
static uint32_t worker; /* a handle to a kernel task (handles start at 1) */

static wit_string_t text(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return (wit_string_t){(uint8_t *)s, n};
}

uint32_t init(void) {
    ticks = 0;
    worker = task_new(2);
    return log_write(text("boot"));
}

uint32_t tick(uint32_t sample) {
    cabi_arena_reset(); /* nothing received last tick is in use */
    uint32_t status = mmio_read(SENSOR);
    if (!sem_acquire(1)) return 0xffffffffu;
    uint8_t bytes[4] = {(uint8_t)sample, (uint8_t)(sample >> 8), (uint8_t)status, (uint8_t)ticks++};
    uint32_t queued = 0;
    wit_result_u32_channel_error_code_t sent = channel_send((wit_list_u8_t){bytes, sample % 5});
    if (sent.tag == WIT_RESULT_U32_CHANNEL_ERROR_CODE_OK) queued = sent.val.ok;
    else queued = 100 + sent.val.err;
    uint32_t sum = 0;
    wit_result_list_u8_channel_error_code_t got = channel_recv(3);
    if (got.tag == WIT_RESULT_LIST_U8_CHANNEL_ERROR_CODE_OK) {
        for (size_t i = 0; i < got.val.ok.len; i++) sum = sum * 31 + got.val.ok.ptr[i];
    } else {
        sum = 1000 + got.val.err;
    }
    sem_release(1);
    if (!worker) worker = task_new(1);
    uint32_t progress = task_run(worker, sample & 7);
    if (ticks % 8 == 0) { /* a fresh task every eight ticks */
        task_drop(worker);
        worker = task_new(ticks & 3);
    }
    if (sum & 1) log_write(text("odd"));
    mmio_write(LED, sum);
    return (sum ^ (queued << 24)) + (progress << 16);
}
