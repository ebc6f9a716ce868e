/* Temporary entry point; the CLI proper is harness/cli_*.c (being written). */
#include <stdio.h>
int main(void) { puts("crystalbench"); return 0; }
