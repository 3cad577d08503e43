/*
 * lib_tlsmod.so — thread-local storage in a -fPIC shared library, for
 * test_fi_thread. Its variables use a dynamic TLS model: every access goes
 * through __tls_get_addr and the calling thread's DTV, which a raw thread
 * must have of its own. The test's stress child has it loaded at start-up
 * (LD_PRELOAD: in the initial link map with static TLS, as a DT_NEEDED
 * library would be); lib_tlsdyn.so, its twin, is dlopen'd.
 */
#define TLSMOD_X_INIT 5
#define TLSMOD_STR_INIT "tlsmod image"
#define TLSMOD_NBSS 64

static __thread int x = TLSMOD_X_INIT;
static __thread char str[32] = TLSMOD_STR_INIT;
static __thread long bss[TLSMOD_NBSS];

int *tlsmod_x(void) { return &x; }
char *tlsmod_str(void) { return str; }
long *tlsmod_bss(void) { return bss; }
int tlsmod_x_init(void) { return TLSMOD_X_INIT; }
const char *tlsmod_str_init(void) { return TLSMOD_STR_INIT; }
int tlsmod_nbss(void) { return TLSMOD_NBSS; }
