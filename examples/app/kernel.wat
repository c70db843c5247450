;; The kernel component: time, logging and a tiny round-robin scheduler,
;; built on two host (MCU) functions that stay imports of the firmware.
(module
  (import "hw" "read_timer" (func $read_timer (result i32)))
  (import "hw" "uart_write" (func $uart_write (param i32)))
  (memory 1)
  ;; 0: tick count, 4: log ring head, 16..48: log ring (8 entries), 64: current task
  (data (i32.const 64) "\00\00\00\00")

  (func $timer_now (export "timer_now") (result i32)
    (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
    (i32.add (call $read_timer) (i32.load (i32.const 0))))

  (func $log_value (export "log_value") (param $v i32)
    (local $head i32)
    (local.set $head (i32.load (i32.const 4)))
    (i32.store (i32.add (i32.const 16) (i32.shl (i32.and (local.get $head) (i32.const 7)) (i32.const 2)))
               (local.get $v))
    (i32.store (i32.const 4) (i32.add (local.get $head) (i32.const 1)))
    (call $uart_write (local.get $v)))

  (func $schedule (export "schedule") (param $task i32) (result i32)
    (local $previous i32)
    (local.set $previous (i32.load (i32.const 64)))
    (i32.store (i32.const 64) (i32.rem_u (i32.add (local.get $task) (local.get $previous)) (i32.const 4)))
    (local.get $previous))

  ;; Only for a debugger; nothing in the firmware calls it.
  (func $dump_log (export "dump_log") (result i32)
    (local $i i32) (local $acc i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const 8)))
        (local.set $acc (i32.xor (local.get $acc)
          (i32.load (i32.add (i32.const 16) (i32.shl (local.get $i) (i32.const 2))))))
        (call $uart_write (local.get $acc))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $acc))
)
