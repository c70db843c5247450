//! The payload component: a fixed-point low-pass filter and a table-driven
//! checksum, with static state only (no allocator, so it never grows memory).
#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

static CRC_TABLE: [u32; 16] = [
    0x0000_0000, 0x1DB7_1064, 0x3B6E_20C8, 0x26D9_30AC, 0x76DC_4190, 0x6B6B_51F4, 0x4DB2_6158, 0x5005_713C,
    0xEDB8_8320, 0xF00F_9344, 0xD6D6_A3E8, 0xCB61_B38C, 0x9B64_C2B0, 0x86D3_D2D4, 0xA00A_E278, 0xBDBD_F21C,
];

static mut STATE: i32 = 0;

/// Exponential moving average in 1/4 steps.
#[no_mangle]
pub extern "C" fn filter(sample: i32) -> i32 {
    unsafe {
        STATE = STATE + ((sample.wrapping_sub(STATE)) >> 2);
        STATE
    }
}

/// CRC-32 of the four bytes of `seed`, nibble by nibble.
#[no_mangle]
pub extern "C" fn checksum(seed: i32) -> i32 {
    let mut crc: u32 = !0;
    for byte in (seed as u32).to_le_bytes() {
        crc = CRC_TABLE[((crc ^ byte as u32) & 0xF) as usize] ^ (crc >> 4);
        crc = CRC_TABLE[((crc ^ (byte as u32 >> 4)) & 0xF) as usize] ^ (crc >> 4);
    }
    !crc as i32
}
