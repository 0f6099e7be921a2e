/*
 * bcryptprimitives.dll for Wine 8, which lacks it: Go 1.22+ Windows
 * programs get their random bytes from ProcessPrng there, and die at start
 * without it ("bcryptprimitives.dll not found"). This one gives them
 * RtlGenRandom's (SystemFunction036 in advapi32). The Windows lane of
 * make test (lane.sh) builds it with x86_64-w64-mingw32-gcc into its
 * throwaway Wine prefix; nothing ships it, and real Windows has its own.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buf, ULONG len);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
