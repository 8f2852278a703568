/* Escape and leak attempts, run inside test sandboxes. Each attempt prints
 * "BLOCKED <errno>" and exits 0 when the kernel refused it, or "ESCAPED <detail>" and
 * exits 1 when it worked. Bounded in count and time. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int blocked(const char* what) {
  printf("BLOCKED %s %s\n", what, strerrorname_np(errno) ? strerrorname_np(errno) : "?");
  return 0;
}

static int escaped(const char* what) {
  printf("ESCAPED %s\n", what);
  return 1;
}

static int check(long rc, const char* what) {
  return rc < 0 ? blocked(what) : escaped(what);
}

static int fork_bomb(long limit) {
  long made = 0;
  for (; made < limit; ++made) {
    pid_t p = fork();
    if (p < 0) {
      printf("BLOCKED fork-bomb %s after %ld forks\n", strerrorname_np(errno), made);
      return 0;
    }
    if (p == 0) {
      sleep(30);
      _exit(0);
    }
  }
  printf("ESCAPED fork-bomb %ld forks\n", made);
  return 1;
}

static int memory_bomb(long mib) {
  for (long i = 0; i < mib; i += 16) {
    char* p = malloc(16 << 20);
    if (!p) return blocked("memory-bomb malloc");
    memset(p, 1, 16 << 20);
  }
  printf("ESCAPED memory-bomb %ld MiB\n", mib);
  return 1;
}

static int fd_bomb(long limit) {
  long n = 0;
  for (; n < limit; ++n) {
    if (open("/dev/null", O_RDONLY) < 0) {
      printf("BLOCKED fd-bomb %s after %ld fds\n", strerrorname_np(errno), n);
      return 0;
    }
  }
  printf("ESCAPED fd-bomb %ld fds\n", n);
  return 1;
}

/* Ignores SIGTERM and leaves a double-forked, setsid'd grandchild that ignores it too. */
static int ignore_term(void) {
  signal(SIGTERM, SIG_IGN);
  pid_t c = fork();
  if (c == 0) {
    if (fork() == 0) {
      setsid();
      signal(SIGTERM, SIG_IGN);
      for (int i = 0; i < 600; ++i) sleep(1);
      _exit(0);
    }
    _exit(0);
  }
  waitpid(c, NULL, 0);
  printf("READY\n");
  fflush(stdout);
  for (int i = 0; i < 600; ++i) sleep(1);
  return 0;
}

static int connect_to(const char* port) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return blocked("socket");
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(port))};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  return check(connect(s, (struct sockaddr*)&a, sizeof a), "connect");
}

static int chroot_escape(void) {
  mkdir("/tmp/esc", 0755);
  if (chroot("/tmp/esc") != 0) return blocked("chroot");
  for (int i = 0; i < 64; ++i) (void)!chdir("..");
  if (chroot(".") != 0) return blocked("chroot-out");
  return escaped("chroot");
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const char* a = argv[1];
  const char* arg = argc > 2 ? argv[2] : "";
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (!strcmp(a, "mount")) return check(mount("tmpfs", "/tmp", "tmpfs", 0, NULL), "mount");
  if (!strcmp(a, "unshare-user")) return check(unshare(CLONE_NEWUSER), "unshare-user");
  if (!strcmp(a, "unshare-mount")) return check(unshare(CLONE_NEWNS), "unshare-mount");
  if (!strcmp(a, "unshare-net")) return check(unshare(CLONE_NEWNET), "unshare-net");
  if (!strcmp(a, "clone-newuser")) {
    long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (r == 0) _exit(0);
    if (r > 0) waitpid(r, NULL, 0);
    return check(r, "clone-newuser");
  }
  if (!strcmp(a, "setns")) {
    int fd = open(arg[0] ? arg : "/proc/1/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return blocked("setns-open");
    return check(setns(fd, 0), "setns");
  }
  if (!strcmp(a, "mknod"))
    return check(mknod("/tmp/escape-null", S_IFCHR | 0666, makedev(1, 3)), "mknod");
  if (!strcmp(a, "ptrace")) return check(ptrace(PTRACE_ATTACH, atoi(arg), 0, 0), "ptrace");
  if (!strcmp(a, "keyctl"))
    return check(syscall(SYS_keyctl, 1 /*JOIN_SESSION_KEYRING*/, "escape"), "keyctl");
  if (!strcmp(a, "add_key"))
    return check(syscall(SYS_add_key, "user", "escape", "x", 1, -3 /*SESSION*/), "add_key");
  if (!strcmp(a, "bpf")) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    return check(syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr), "bpf");
  }
  if (!strcmp(a, "io_uring")) {
    char params[120] = {0};
    return check(syscall(SYS_io_uring_setup, 8, params), "io_uring");
  }
  if (!strcmp(a, "write")) return check(open(arg, O_WRONLY | O_CREAT | O_CLOEXEC, 0644), "write");
  if (!strcmp(a, "remount-rw")) {
    long r = mount(NULL, arg, NULL, MS_REMOUNT | MS_BIND, NULL);
    if (r < 0) return blocked("remount-rw");
    char path[4096];
    snprintf(path, sizeof path, "%s/escape-after-remount", arg);
    return check(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644), "write-after-remount");
  }
  if (!strcmp(a, "read")) return check(open(arg, O_RDONLY | O_CLOEXEC), "read");
  if (!strcmp(a, "setuid")) return check(setuid(atoi(arg[0] ? arg : "1000")), "setuid");
  if (!strcmp(a, "chroot")) return chroot_escape();
  if (!strcmp(a, "fork-bomb")) return fork_bomb(atol(arg[0] ? arg : "5000"));
  if (!strcmp(a, "memory-bomb")) return memory_bomb(atol(arg[0] ? arg : "1024"));
  if (!strcmp(a, "fd-bomb")) return fd_bomb(atol(arg[0] ? arg : "100000"));
  if (!strcmp(a, "ignore-term")) return ignore_term();
  if (!strcmp(a, "connect")) return connect_to(arg);
  if (!strcmp(a, "kill")) return check(kill(atoi(arg), SIGKILL), "kill");
  if (!strcmp(a, "connect-abstract")) {
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return blocked("socket");
    struct sockaddr_un u;
    memset(&u, 0, sizeof u);
    u.sun_family = AF_UNIX;
    size_t n = strlen(arg);
    if (n > sizeof u.sun_path - 2) n = sizeof u.sun_path - 2;
    memcpy(u.sun_path + 1, arg, n); /* abstract: leading NUL */
    return check(connect(s, (struct sockaddr*)&u,
                         (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)),
                 "connect-abstract");
  }
  if (!strcmp(a, "int80")) {
    /* The 32-bit syscall ABI from a 64-bit process: getpid (20) through int 0x80. */
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
    return ret > 0 ? escaped("int80") : (errno = (int)-ret, blocked("int80"));
  }
  if (!strcmp(a, "tiocsti")) {
    /* Push a keystroke into the terminal on stdin: the host's shell would read it. */
    char c = '#';
    return check(ioctl(0, TIOCSTI, &c), "tiocsti");
  }
  if (!strcmp(a, "fds")) {
    /* Lists open fds above 2: none may come from the host. */
    int found = 0;
    for (int fd = 3; fd < 1024; ++fd)
      if (fcntl(fd, F_GETFD) >= 0) {
        printf("FD %d\n", fd);
        found = 1;
      }
    return found ? escaped("fds") : (printf("BLOCKED fds none\n"), 0);
  }
  fprintf(stderr, "unknown attempt %s\n", a);
  return 2;
}
