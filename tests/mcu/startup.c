/*
 * startup.c — the least a Cortex-M4F program needs under QEMU: a vector
 * table (initial stack pointer, reset handler), .data copied from flash,
 * .bss zeroed, the FPU enabled, then main; its status is reported to the
 * host with semihosting's exit call (newlib's librdimon).
 */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[], __stack_top[];
extern void initialise_monitor_handles(void);
int main(void);
void reset_handler(void);

static void fault_handler(void)
{
    exit(3);
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)__stack_top, reset_handler, fault_handler, fault_handler,
    fault_handler, fault_handler, fault_handler,
};

/* newlib's exit runs __libc_fini_array, which calls these (crt0's, absent here) */
void _init(void);
void _fini(void);
void _init(void) {}
void _fini(void) {}

void reset_handler(void)
{
    for (uint32_t *s = __data_load, *d = __data_start; d < __data_end;)
        *d++ = *s++;
    for (uint32_t *d = __bss_start; d < __bss_end;)
        *d++ = 0;
    /* CPACR: full access to coprocessors 10 and 11 (the FPU) */
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;
    __asm volatile("dsb\n\tisb");
    initialise_monitor_handles();
    exit(main());
}
