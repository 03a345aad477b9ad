/* hello — the smallest guest: argc/argv, one environment variable, a few stdio writes.
 *
 * usage: hello [ARGS...]      environment: HELLO_NAME (printed if set)
 *
 * Exercises the initial stack (argc, argv, envp, auxv as libc start-up reads them), TLS set-up
 * and stdio buffering (stdout fully buffered to a pipe, stderr unbuffered). argv[0] is printed as
 * its basename up to the first '-' ("hello" for hello-x86_64, hello-i386-pie, ...), so every
 * build variant prints the same bytes.
 */
#include "guest_util.h"

#include <unistd.h>

int main(int argc, char **argv)
{
	const char *base = argv[0] ? strrchr(argv[0], '/') : NULL;
	base = base ? base + 1 : (argv[0] ? argv[0] : "(null)");
	size_t stem = strcspn(base, "-");

	printf("hello, world\n");
	printf("argc=%d\n", argc);
	printf("argv[0]=%.*s\n", (int)stem, base);
	for (int i = 1; i < argc; i++)
		printf("argv[%d]=\"%s\"\n", i, argv[i]);
	CHECK(argv[argc] == NULL, "argv[argc] is not NULL");

	const char *name = getenv("HELLO_NAME");
	if (name)
		printf("HELLO_NAME=\"%s\"\n", name);
	else
		puts("HELLO_NAME is not set");

	/* A few different stdio paths. */
	fputs("fputs line\n", stdout);
	putchar('p');
	putchar('\n');
	static const char blob[] = "fwrite blob\n";
	CHECK(fwrite(blob, 1, sizeof blob - 1, stdout) == sizeof blob - 1, "fwrite");
	/* A write larger than the stdio buffer, so it reaches write(2) in several pieces. */
	uint64_t h = FNV64_OFFSET;
	for (int line = 0; line < 300; line++) {
		char buf[64];
		int n = snprintf(buf, sizeof buf, "line %03d %016llx\n", line,
				 (unsigned long long)fnv1a_u64(h, (uint64_t)line));
		h = fnv1a_bytes(h, buf, (size_t)n);
		fputs(buf, stdout);
	}
	printf("lines digest %016llx\n", (unsigned long long)h);
	fflush(stdout);

	/* stderr is compared too. */
	fprintf(stderr, "hello on stderr (%d args)\n", argc - 1);
	CHECK(write(STDOUT_FILENO, "raw write(2)\n", 13) == 13, "write(2)");
	printf("goodbye\n");
	return 0;
}
