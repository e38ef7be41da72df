#include <stdio.h>
int main(void)
{
    fputs("klc: not built yet\n", stderr);
    return 2;
}
