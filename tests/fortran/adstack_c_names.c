/* The C names of the AD stack, as a C adjoint calls them (adStack.h).
 * Prints "SIZE tag bytes" and "BAD tag" for a wrong value. */
#include <stdio.h>
#include "adStack.h"

int main(void) {
  double d = 0;
  int i = 0, c = 0;
  pushReal8(2.5);
  pushInteger4(-7);
  for (int k = 0; k < 33; k++) pushControl2b(k % 4);     /* 66 bits: two words */
  printf("SIZE pushed %llu\n", (unsigned long long)adStack_getCurrentStackSize());
  for (int k = 32; k >= 0; k--) {
    popControl2b(&c);
    if (c != k % 4) printf("BAD control %d\n", k);
  }
  popInteger4(&i);
  if (i != -7) printf("BAD integer4\n");
  popReal8(&d);
  if (d != 2.5) printf("BAD real8\n");
  printf("SIZE end %llu\n", (unsigned long long)adStack_getCurrentStackSize());
  return 0;
}
