// SPDX-License-Identifier: GPL-2.0
/* test_size.c - size_parse() and size_format() */
#include <errno.h>
#include <stdint.h>

#include "size.h"
#include "unit.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define TiB (UINT64_C(1) << 40)
#define PiB (UINT64_C(1) << 50)

/* Macros, not functions, so that a failure names the line of the case. */
#define OK(str, want) do {						\
	uint64_t b_ = 0xdeadbeef;					\
	if (CHECK_EQ_INT(size_parse(str, &b_), 0))			\
		CHECK_EQ_U64(b_, (want));				\
} while (0)

/* a failed parse must leave the output alone */
#define BAD(str, err) do {						\
	uint64_t b_ = 42;						\
	CHECK_EQ_INT(size_parse(str, &b_), (err));			\
	CHECK_EQ_U64(b_, 42);						\
} while (0)

#define FMT(bytes, want) do {						\
	char buf_[32];							\
	CHECK_STR(size_format((bytes), buf_, sizeof(buf_)), (want));	\
} while (0)

static void test_plain(void)
{
	OK("0", 0);
	OK("1", 1);
	OK("4096", 4096);
	OK("00010", 10);	/* leading zeros: still decimal, not octal */
	OK("18446744073709551615", UINT64_MAX);
	OK("000000000000000000000000000000000000000001", 1);
}

static void test_units(void)
{
	OK("1B", 1);
	OK("0B", 0);
	OK("4096B", 4096);
	OK("1s", 512);
	OK("8s", 4096);
	OK("0s", 0);

	OK("1K", KiB);
	OK("1k", KiB);
	OK("1Ki", KiB);
	OK("1ki", KiB);
	OK("1KiB", KiB);
	OK("1kib", KiB);
	OK("1KIB", KiB);
	OK("4K", 4 * KiB);
	OK("1M", MiB);
	OK("1m", MiB);
	OK("1MiB", MiB);
	OK("1mib", MiB);
	OK("1G", GiB);
	OK("1g", GiB);
	OK("1GiB", GiB);
	OK("3GiB", 3 * GiB);
	OK("1T", TiB);
	OK("1t", TiB);
	OK("1TiB", TiB);
	OK("1P", PiB);
	OK("1p", PiB);
	OK("1PiB", PiB);
	OK("1pib", PiB);

	OK("1KB", 1000);
	OK("1kB", 1000);
	OK("1kb", 1000);
	OK("1Kb", 1000);
	OK("1MB", UINT64_C(1000000));
	OK("1mb", UINT64_C(1000000));
	OK("2GB", UINT64_C(2000000000));
	OK("1TB", UINT64_C(1000000000000));
	OK("1PB", UINT64_C(1000000000000000));
	OK("7pb", UINT64_C(7000000000000000));
}

static void test_hex(void)
{
	OK("0x0", 0);
	OK("0x10", 16);
	OK("0X10", 16);
	OK("0xff", 255);
	OK("0xFF", 255);
	OK("0xDeadBeef", UINT64_C(0xdeadbeef));
	OK("0x0000000000000000000000001", 1);
	OK("0xFFFFFFFFFFFFFFFF", UINT64_MAX);
	/* hex digits are greedy: B is a digit, then units follow */
	OK("0x1B", 27);
	OK("0x1b", 27);
	OK("0x1K", KiB);
	OK("0x1KB", 1000);
	OK("0x1KiB", KiB);
	OK("0x10s", 16 * 512);
	OK("0x2M", 2 * MiB);
	OK("0x1P", PiB);
}

static void test_overflow(void)
{
	BAD("18446744073709551616", -ERANGE);
	BAD("99999999999999999999999999999999", -ERANGE);
	BAD("0x10000000000000000", -ERANGE);
	BAD("0xFFFFFFFFFFFFFFFF0", -ERANGE);
	BAD("0xFFFFFFFFFFFFFFFFB", -ERANGE);	/* B is a 17th digit */
	BAD("0xFFFFFFFFFFFFFFFFK", -ERANGE);

	OK("16383P", UINT64_C(16383) * PiB);
	BAD("16384P", -ERANGE);			/* 2^64 exactly */
	BAD("16384PiB", -ERANGE);
	BAD("20000000P", -ERANGE);
	OK("18446PB", UINT64_C(18446) * UINT64_C(1000000000000000));
	BAD("18447PB", -ERANGE);
	OK("17179869183G", UINT64_C(17179869183) * GiB);
	BAD("17179869184G", -ERANGE);
	OK("36028797018963967s", UINT64_MAX - 511);
	BAD("36028797018963968s", -ERANGE);
	OK("18014398509481983K", UINT64_MAX - 1023);
	BAD("18014398509481984K", -ERANGE);
	BAD("18446744073709551615K", -ERANGE);

	/* syntax is judged before range: junk stays junk */
	BAD("99999999999999999999zz", -EINVAL);
	BAD("99999999999999999999E", -EINVAL);
}

static void test_junk(void)
{
	BAD(NULL, -EINVAL);
	BAD("", -EINVAL);
	BAD(" 1", -EINVAL);
	BAD("\t1", -EINVAL);
	BAD("1 ", -EINVAL);
	BAD("1\n", -EINVAL);
	BAD("1 K", -EINVAL);
	BAD("1KiB ", -EINVAL);
	BAD("-1", -EINVAL);
	BAD("-0", -EINVAL);
	BAD("+1", -EINVAL);
	BAD("1.5G", -EINVAL);
	BAD("1.5", -EINVAL);
	BAD("1.0", -EINVAL);
	BAD(".5K", -EINVAL);
	BAD("1e3", -EINVAL);
	BAD("1,000", -EINVAL);
	BAD("1_000", -EINVAL);
	BAD("12abc", -EINVAL);
	BAD("4KK", -EINVAL);
	BAD("1KiBB", -EINVAL);
	BAD("1KBi", -EINVAL);
	BAD("1Kis", -EINVAL);
	BAD("1iB", -EINVAL);
	BAD("1sB", -EINVAL);
	BAD("1Ks", -EINVAL);
	BAD("1S", -EINVAL);	/* sectors are lower-case s only */
	BAD("1b", -EINVAL);	/* dd's 512-byte "b": refused, not bytes */
	BAD("1E", -EINVAL);	/* no exa */
	BAD("16E", -EINVAL);
	BAD("1EiB", -EINVAL);
	BAD("1X", -EINVAL);
	BAD("K", -EINVAL);
	BAD("s", -EINVAL);
	BAD("B", -EINVAL);
	BAD("KiB", -EINVAL);
	BAD("0x", -EINVAL);
	BAD("0X", -EINVAL);
	BAD("0xK", -EINVAL);
	BAD("0xg", -EINVAL);
	BAD("0x 1", -EINVAL);
	BAD("0x-1", -EINVAL);
	BAD("0x+1", -EINVAL);
	BAD("0x0x1", -EINVAL);
	BAD("00x10", -EINVAL);
	BAD("x10", -EINVAL);
	BAD("0b101", -EINVAL);
	BAD("0o17", -EINVAL);
	BAD("1+1", -EINVAL);
	BAD("1:2", -EINVAL);
}

static void test_format(void)
{
	char small[4], *p;

	FMT(0, "0 B");
	FMT(1, "1 B");
	FMT(512, "512 B");
	FMT(1023, "1023 B");
	FMT(KiB, "1.0 KiB");
	FMT(4 * KiB, "4.0 KiB");
	FMT(1536, "1.5 KiB");
	FMT(1126, "1.1 KiB");		/* 1.0996 rounds up */
	FMT(1075, "1.0 KiB");		/* 1.0498 rounds down */
	FMT(1076, "1.1 KiB");		/* 1.0508 rounds up */
	FMT(2047, "2.0 KiB");		/* 1.999 carries into the units */
	FMT(1023 * KiB + 50, "1023.0 KiB");
	FMT(MiB - 1, "1.0 MiB");	/* not "1024.0 KiB" */
	FMT(MiB, "1.0 MiB");
	FMT(GiB + GiB / 2, "1.5 GiB");
	FMT(GiB - 1, "1.0 GiB");
	FMT(3 * TiB, "3.0 TiB");
	FMT(5 * PiB + PiB / 10 + 1, "5.1 PiB");
	FMT(UINT64_C(1) << 60, "1.0 EiB");
	FMT(UINT64_MAX, "16.0 EiB");

	/* truncated to the buffer, always NUL-terminated */
	p = size_format(4 * KiB, small, sizeof(small));
	CHECK(p == small);
	CHECK_STR(small, "4.0");
	p = size_format(GiB, small, sizeof(small));
	CHECK_STR(small, "1.0");

	/* len 0: nothing written, not even the NUL */
	small[0] = 'x';
	p = size_format(GiB, small, 0);
	CHECK(p == small);
	CHECK(small[0] == 'x');
}

int main(void)
{
	test_plain();
	test_units();
	test_hex();
	test_overflow();
	test_junk();
	test_format();
	return unit_summary();
}
