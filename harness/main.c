/* Temporary entry point; the CLI proper is being written. */
#include <stdio.h>
int main(void) { puts("crystalbench"); return 0; }
