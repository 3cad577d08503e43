/* lib_tlsdyn.so — the twin of lib_tlsmod.so under other names and initial
 * values, which test_fi_thread loads with dlopen: its TLS is dynamic,
 * allocated for each thread on its first access (__tls_get_addr). */
#define TLSDYN_X_INIT 7
#define TLSDYN_STR_INIT "tlsdyn image"
#define TLSDYN_NBSS 48

static __thread int x = TLSDYN_X_INIT;
static __thread char str[32] = TLSDYN_STR_INIT;
static __thread long bss[TLSDYN_NBSS];

int *tlsdyn_x(void) { return &x; }
char *tlsdyn_str(void) { return str; }
long *tlsdyn_bss(void) { return bss; }
int tlsdyn_x_init(void) { return TLSDYN_X_INIT; }
const char *tlsdyn_str_init(void) { return TLSDYN_STR_INIT; }
int tlsdyn_nbss(void) { return TLSDYN_NBSS; }
