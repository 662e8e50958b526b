/*
 * TEST-ONLY stand-in for Windows' bcryptprimitives.dll, which Wine 8 (Debian 12)
 * lacks. Rust's std on Windows gets randomness from its one export, ProcessPrng;
 * here it is served by RtlGenRandom (advapi32's SystemFunction036), which Wine has.
 * Only ever copied into the throwaway Wine prefix CI makes; never shipped.
 */
#include <windows.h>

BOOLEAN NTAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
