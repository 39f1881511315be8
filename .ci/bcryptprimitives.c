/* ProcessPrng for Wine 8, which has no bcryptprimitives.dll: Rust's standard library (1.78 and
 * later) takes its random numbers from that function, so under Wine 8 every Rust .exe fails to
 * start (status 53, printing nothing) until this DLL is in the Wine prefix's system32. Windows
 * 10 and 11 have the real one; .ci/windows builds this one for Wine only.
 *
 * It fills the buffer from BCryptGenRandom with the system's preferred generator, the call
 * the real ProcessPrng stands for, in pieces that fit its 32-bit length. */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG piece = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (BCryptGenRandom(NULL, data, piece, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
            return FALSE;
        data += piece;
        length -= piece;
    }
    return TRUE;
}
