/* The library-OS kernel component: a UART log over the host's MMIO, a byte
 * channel (a ring buffer), counting semaphores and tasks (a resource). Its canonical-ABI glue and
 * cabi_realloc come from the WIT world (kernel.h is generated). */
#include "kernel.h"

#define UART_TX 0x40001000u
#define RING 32
#define SEMS 4

static uint8_t ring[RING];
static uint32_t head, count;
static uint8_t out[RING];
static uint32_t sems[SEMS] = {1, 1, 1, 1};

uint32_t log_write(wit_string_t msg) {
    for (size_t i = 0; i < msg.len; i++) mmio_write(UART_TX, msg.ptr[i]);
    cabi_arena_reset(); /* the message has been written out */
    return (uint32_t)msg.len;
}

wit_result_u32_channel_error_code_t channel_send(wit_list_u8_t data) {
    wit_result_u32_channel_error_code_t r;
    if (data.len > RING) {
        r.tag = WIT_RESULT_U32_CHANNEL_ERROR_CODE_ERR;
        r.val.err = CHANNEL_ERROR_CODE_TOO_BIG;
    } else if (count + data.len > RING) {
        r.tag = WIT_RESULT_U32_CHANNEL_ERROR_CODE_ERR;
        r.val.err = CHANNEL_ERROR_CODE_FULL;
    } else {
        for (size_t i = 0; i < data.len; i++) ring[(head + count + i) % RING] = data.ptr[i];
        count += data.len;
        r.tag = WIT_RESULT_U32_CHANNEL_ERROR_CODE_OK;
        r.val.ok = count;
    }
    cabi_arena_reset(); /* the bytes have been queued */
    return r;
}

wit_result_list_u8_channel_error_code_t channel_recv(uint32_t max) {
    wit_result_list_u8_channel_error_code_t r;
    if (count == 0) {
        r.tag = WIT_RESULT_LIST_U8_CHANNEL_ERROR_CODE_ERR;
        r.val.err = CHANNEL_ERROR_CODE_EMPTY;
        return r;
    }
    uint32_t n = max < count ? max : count;
    for (uint32_t i = 0; i < n; i++) out[i] = ring[(head + i) % RING];
    head = (head + n) % RING;
    count -= n;
    r.tag = WIT_RESULT_LIST_U8_CHANNEL_ERROR_CODE_OK;
    r.val.ok.ptr = out;
    r.val.ok.len = n;
    return r;
}

bool sem_acquire(uint32_t id) {
    if (id >= SEMS || sems[id] == 0) return false;
    sems[id]--;
    return true;
}

void sem_release(uint32_t id) {
    if (id < SEMS) sems[id]++;
}

/* Tasks: a fixed pool; a task's rep is its slot. */
#define TASKS 4
static struct { uint32_t prio, progress, used; } tasks[TASKS];

uint32_t task_new(uint32_t prio) {
    for (uint32_t i = 0; i < TASKS; i++) {
        if (!tasks[i].used) {
            tasks[i].prio = prio;
            tasks[i].progress = 0;
            tasks[i].used = 1;
            return task_handle_new(i);
        }
    }
    __builtin_trap(); /* no free task */
}

uint32_t task_run(uint32_t self, uint32_t budget) {
    tasks[self].progress += budget * (tasks[self].prio + 1);
    return tasks[self].progress;
}

void task_dtor(uint32_t rep) { tasks[rep].used = 0; }
