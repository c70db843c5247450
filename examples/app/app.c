/* The application component: a control loop that samples a sensor window,
 * asks the payload to filter it, and reports through the kernel's services. */
#include <stdint.h>

#define IMPORT(module, name) __attribute__((import_module(module), import_name(name)))
#define EXPORT(name) __attribute__((export_name(name)))

IMPORT("kernel", "timer_now") int32_t timer_now(void);
IMPORT("kernel", "log_value") void log_value(int32_t value);
IMPORT("kernel", "schedule") int32_t schedule(int32_t task);
IMPORT("payload", "filter") int32_t filter(int32_t sample);
IMPORT("payload", "checksum") int32_t checksum(int32_t seed);

#define WINDOW 8
static int32_t samples[WINDOW];
static uint32_t next_sample;
static int32_t threshold = 64;

EXPORT("init") int32_t init(void) {
    for (int i = 0; i < WINDOW; i++) samples[i] = 0;
    next_sample = 0;
    return checksum(threshold);
}

/* One scheduler tick: sample, filter, and raise an alarm past the threshold. */
EXPORT("tick") int32_t tick(int32_t input) {
    int32_t now = timer_now();
    samples[next_sample++ % WINDOW] = filter(input + (now & 3));
    int32_t sum = 0;
    for (int i = 0; i < WINDOW; i++) sum += samples[i];
    int32_t average = sum / WINDOW;
    if (average > threshold) {
        log_value(average);
        schedule(1);
    }
    return average;
}

EXPORT("set_threshold") void set_threshold(int32_t value) { threshold = value; }

/* Diagnostics only: not a firmware root, so DCE drops it. */
EXPORT("selftest") int32_t selftest(void) {
    int32_t acc = 0;
    for (int i = 0; i < 100; i++) acc = acc * 31 + checksum(i);
    return acc;
}
