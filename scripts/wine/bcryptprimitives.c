/*
 * ProcessPrng for Wine 8, whose bcryptprimitives.dll lacks it while
 * Rust's standard library imports it (without it every Rust .exe fails to
 * load with status c0000135). Placed beside a test binary, this DLL is
 * found before Wine's own. It fills the buffer from RtlGenRandom
 * (SystemFunction036), the generator Windows documents for this use
 * before ProcessPrng existed.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
