/* The namespace sandbox's launcher: runs one command in its own user, mount, PID, network, IPC and UTS
   namespaces, seeing only the mounts it is given (engine/sandbox_argv.py makes them). It reads the subset
   of bubblewrap's command line that wasmelt uses, so the same mount plan runs under either:

     --unshare-all --share-net --die-with-parent --new-session --hostname NAME
     --ro-bind SRC DST   --bind SRC DST   --tmpfs DST   --symlink TARGET DST
     --proc DST   --dev DST   --chdir DIR   --args FD   --info-fd FD   -- COMMAND...

   Why not bubblewrap itself: its new root is made with pivot_root, and the old root's lazy unmount waits
   for an RCU grace period (~2.6 ms of its ~4 ms per action, most of an incremental build's overhead).
   Here the new root is a tmpfs mounted over the sandbox directory itself and entered with chroot; the
   host's tree stays in the mount namespace, out of reach: the command runs with every capability dropped
   (bounding set, ambient, effective) and no_new_privs, so it cannot chroot out, mount, or setns, and no
   descriptor of the host's tree is left open. Mounts are cloned with open_tree and made read-only with
   mount_setattr (Linux 5.12): recursively, which a plain read-only remount is not.

   Processes: this one (in the host's PID namespace; reports the sandbox's first process on --info-fd as
   bubblewrap does, waits for it and exits with its status), that first process (sets the sandbox up,
   then reaps; when the command exits it exits with the command's status, 128 + the signal when it was
   killed, and the kernel kills what the command left), and the command.

   Built by scripts/setup (`python -m ziglang cc`), as the native client is; where it is missing or the
   kernel refuses it (engine/sandbox_probe.py tries it once per process), bubblewrap runs the plan. */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif

struct mount_attr_arg { unsigned long long attr_set, attr_clr, propagation, userns_fd; };

#define NAME "wasmelt-sandbox"

static void die(const char *fmt, ...) {
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, NAME ": ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, saved ? ": %s\n" : "\n", strerror(saved));
    _exit(1);
}

/* ---- the command line, with --args FD read in place */

enum kind { RO_BIND, BIND, TMPFS, SYMLINK, PROC, DEV };
struct op { enum kind kind; const char *src, *dst; int tree; };

static struct op *ops;
static int n_ops, cap_ops;
static int share_net, die_with_parent, new_session, info_fd = -1;
static const char *hostname, *chdir_to;
static char **command;

static void add_op(enum kind kind, const char *src, const char *dst) {
    if (n_ops == cap_ops) {
        cap_ops = cap_ops ? 2 * cap_ops : 64;
        ops = realloc(ops, cap_ops * sizeof *ops);
        if (!ops) die("out of memory");
    }
    ops[n_ops++] = (struct op){kind, src, dst, -1};
}

static char **read_args_fd(int fd, int *count) {
    size_t size = 0, cap = 4096;
    char *data = malloc(cap);
    for (ssize_t got;; size += got) {
        if (size + 1 >= cap) data = realloc(data, cap *= 2);
        if (!data) die("out of memory");
        got = read(fd, data + size, cap - size - 1);
        if (got < 0 && errno == EINTR) { got = 0; continue; }
        if (got < 0) die("--args %d", fd);
        if (got == 0) break;
    }
    close(fd);
    data[size] = 0;
    int n = 0;
    for (size_t i = 0; i < size; i++) n += data[i] == 0;
    char **args = calloc(n + 1, sizeof *args);
    char *p = data;
    for (int i = 0; i < n; i++, p += strlen(p) + 1) args[i] = p;
    *count = n;
    return args;
}

static const char *need(char **argv, int argc, int i, const char *option) {
    if (i >= argc) { errno = 0; die("%s needs an argument", option); }
    return argv[i];
}

/* Returns 1 once the command is found (after `--`, or the first word that is not an option). */
static int parse(char **argv, int argc, int from_fd) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) { if (!from_fd) command = argv + i + 1; return !from_fd; }
        if (!strcmp(a, "--unshare-all")) continue;
        if (!strcmp(a, "--share-net")) share_net = 1;
        else if (!strcmp(a, "--die-with-parent")) die_with_parent = 1;
        else if (!strcmp(a, "--new-session")) new_session = 1;
        else if (!strcmp(a, "--hostname")) hostname = need(argv, argc, ++i, a);
        else if (!strcmp(a, "--chdir")) chdir_to = need(argv, argc, ++i, a);
        else if (!strcmp(a, "--info-fd")) info_fd = atoi(need(argv, argc, ++i, a));
        else if (!strcmp(a, "--args")) {
            int n, fd = atoi(need(argv, argc, ++i, a));
            parse(read_args_fd(fd, &n), n, 1);
        } else if (!strcmp(a, "--ro-bind") || !strcmp(a, "--bind") || !strcmp(a, "--symlink")) {
            const char *src = need(argv, argc, ++i, a), *dst = need(argv, argc, ++i, a);
            add_op(a[2] == 'r' ? RO_BIND : a[2] == 'b' ? BIND : SYMLINK, src, dst);
        } else if (!strcmp(a, "--tmpfs") || !strcmp(a, "--proc") || !strcmp(a, "--dev")) {
            add_op(a[2] == 't' ? TMPFS : a[2] == 'p' ? PROC : DEV, NULL, need(argv, argc, ++i, a));
        } else if (a[0] == '-' && a[1] == '-') {
            errno = 0;
            die("unknown option %s", a);
        } else {
            if (from_fd) { errno = 0; die("--args holds a command (%s); pass it after --", a); }
            command = argv + i;
            return 1;
        }
    }
    return 0;
}

/* ---- building the new root */

static const char *root;  /* where the new root is mounted: the working directory's own path */

static char *under_root(const char *path) {
    char *joined;
    if (asprintf(&joined, "%s/%s", root, path[0] == '/' ? path + 1 : path) < 0) die("out of memory");
    return joined;
}

static void make_dirs(char *path, mode_t mode) {  /* mkdir -p, `path` restored */
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(path, 0755) < 0 && errno != EEXIST) die("cannot make %s", path);
        *p = '/';
    }
    if (mkdir(path, mode) < 0 && errno != EEXIST) die("cannot make %s", path);
}

static void make_mount_point(char *path, int is_dir) {
    if (is_dir) { make_dirs(path, 0755); return; }
    char *slash = strrchr(path, '/');
    *slash = 0;
    make_dirs(path, 0755);
    *slash = '/';
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 && errno != EEXIST) die("cannot make %s", path);
    if (fd >= 0) close(fd);
}

/* A recursive clone of the host's `src`, read-only (recursively) when asked: taken before the new root
   covers the working directory, since inputs are bound from under it. */
static int clone_tree(const char *src, int read_only) {
    int fd = syscall(SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (fd < 0) die("cannot bind %s", src);
    if (read_only) {
        struct mount_attr_arg attr = {.attr_set = MOUNT_ATTR_RDONLY};
        if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
            die("cannot make %s read-only", src);
    }
    return fd;
}

static void attach(int tree, const char *src, const char *dst) {
    struct stat st;
    if (fstat(tree, &st) < 0) die("cannot bind %s", src);
    char *at = under_root(dst);
    make_mount_point(at, S_ISDIR(st.st_mode));
    if (syscall(SYS_move_mount, tree, "", AT_FDCWD, at, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        die("cannot bind %s on %s", src, dst);
    close(tree);
    free(at);
}

static void mount_fs(const char *type, const char *dst, unsigned long flags, const char *data) {
    char *at = under_root(dst);
    make_dirs(at, 0755);
    if (mount(type, at, type, flags, data) < 0) die("cannot mount %s on %s", type, dst);
    free(at);
}

/* A fresh proc, with the host-wide knobs in it read-only, as bubblewrap leaves them: a command running as
   the host's root (uid 0 mapped to itself) would otherwise pass the permission check of some of them. */
static void make_proc(const char *dst) {
    mount_fs("proc", dst, MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    static const char *const HOST_WIDE[] = {"sys", "sysrq-trigger", "irq", "bus"};
    for (int i = 0; i < 4; i++) {
        char *path, *at;
        if (asprintf(&path, "%s/%s", dst, HOST_WIDE[i]) < 0) die("out of memory");
        at = under_root(path);
        if (access(at, F_OK) == 0) {
            int tree = clone_tree(at, 1);
            if (syscall(SYS_move_mount, tree, "", AT_FDCWD, at, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                die("cannot make %s read-only", path);
            close(tree);
        }
        free(at);
        free(path);
    }
}

static const char *const DEVICES[] = {"null", "zero", "full", "random", "urandom", "tty"};
#define N_DEVICES (int)(sizeof DEVICES / sizeof *DEVICES)

/* A minimal /dev: the harmless devices bound from the host, the usual links, a private shm. */
static void make_dev(const char *dst, const int *trees) {
    mount_fs("tmpfs", dst, MS_NOSUID | MS_NOEXEC, "mode=0755");
    char *dev = under_root(dst), *path;
    for (int i = 0; i < N_DEVICES; i++) {
        if (trees[i] < 0) continue;
        if (asprintf(&path, "%s/%s", dst, DEVICES[i]) < 0) die("out of memory");
        attach(trees[i], DEVICES[i], path);
        free(path);
    }
    static const char *const LINKS[][2] = {{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
                                           {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}};
    for (int i = 0; i < 4; i++) {
        if (asprintf(&path, "%s/%s", dev, LINKS[i][1]) < 0) die("out of memory");
        if (symlink(LINKS[i][0], path) < 0) die("cannot make %s", path);
        free(path);
    }
    if (asprintf(&path, "%s/shm", dst) < 0) die("out of memory");
    mount_fs("tmpfs", path, MS_NOSUID | MS_NODEV, "mode=1777");
    free(path);
    free(dev);
}

static void write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) die("cannot write %s", path);
    close(fd);
}

static void bring_up_loopback(void) {  /* as bubblewrap does: a network namespace's `lo` starts down */
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "lo");
    if (sock < 0 || ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) die("cannot find the loopback device");
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) die("cannot bring up the loopback device");
    close(sock);
}

static void drop_capabilities(void) {
    for (int cap = 0; cap <= 63; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) die("cannot drop capability %d", cap);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {{0}};
    if (syscall(SYS_capset, &header, data) < 0) die("cannot drop capabilities");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("cannot set no_new_privs");
}

/* In the new namespaces, as their first process: the root, then the command. */
static void enter(void) {
    if (die_with_parent && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) die("cannot ask to die with the parent");
    if (new_session) setsid();
    if (hostname && sethostname(hostname, strlen(hostname)) < 0) die("cannot set the host name");
    if (!share_net) bring_up_loopback();
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die("cannot make the mounts private");

    int device_trees[N_DEVICES];
    for (int i = 0; i < N_DEVICES; i++) {
        char path[32];
        snprintf(path, sizeof path, "/dev/%s", DEVICES[i]);
        device_trees[i] = access(path, F_OK) == 0 ? clone_tree(path, 0) : -1;
    }
    for (int i = 0; i < n_ops; i++)
        if (ops[i].kind == RO_BIND || ops[i].kind == BIND) ops[i].tree = clone_tree(ops[i].src, ops[i].kind == RO_BIND);
    if (mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0) die("cannot mount the new root");
    for (int i = 0; i < n_ops; i++) {
        struct op *op = &ops[i];
        char *at;
        switch (op->kind) {
        case RO_BIND: case BIND: attach(op->tree, op->src, op->dst); break;
        case TMPFS: mount_fs("tmpfs", op->dst, MS_NOSUID | MS_NODEV, "mode=0755"); break;
        case PROC: make_proc(op->dst); break;
        case DEV: make_dev(op->dst, device_trees); break;
        case SYMLINK:
            at = under_root(op->dst);
            if (symlink(op->src, at) < 0 && errno != EEXIST) die("cannot make the link %s", op->dst);
            free(at);
            break;
        }
    }
    if (chdir(root) < 0 || chroot(".") < 0) die("cannot enter the new root");
    if (chdir(chdir_to ? chdir_to : "/") < 0) die("cannot change to %s", chdir_to ? chdir_to : "/");
    drop_capabilities();
    /* The command runs as this process's child: a PID namespace's first process ignores the signals it
       has no handler for, even those it sends itself (a `kill -SEGV $$` would be lost). */
    pid_t command_pid = fork();
    if (command_pid < 0) die("cannot fork");
    if (command_pid == 0) {
        execvp(command[0], command);
        die("cannot run %s", command[0]);
    }
    for (;;) {  /* reaping every orphan until the command ends; then the kernel kills what is left */
        int status;
        pid_t pid = wait(&status);
        if (pid < 0 && errno == EINTR) continue;
        if (pid < 0) die("cannot wait for the command");
        if (pid == command_pid) _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
}

int main(int argc, char **argv) {
    if (!parse(argv + 1, argc - 1, 0) || !command || !command[0]) { errno = 0; die("no command given"); }
    /* The new root goes over the working directory (it is bound back at its own path inside). */
    char *cwd = getcwd(NULL, 0);
    if (!cwd) die("cannot read the working directory");
    root = cwd;

    uid_t uid = getuid();
    gid_t gid = getgid();
    int flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
    if (!share_net) flags |= CLONE_NEWNET;
    if (unshare(flags) < 0) die("cannot make namespaces");
    char map[64];
    write_file("/proc/self/setgroups", "deny");
    snprintf(map, sizeof map, "%u %u 1", uid, uid);
    write_file("/proc/self/uid_map", map);
    snprintf(map, sizeof map, "%u %u 1", gid, gid);
    write_file("/proc/self/gid_map", map);
    if (die_with_parent && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) die("cannot ask to die with the parent");

    pid_t child = fork();
    if (child < 0) die("cannot fork");
    if (child == 0) {
        if (info_fd >= 0) close(info_fd);
        enter();
    }
    if (info_fd >= 0) {
        char path[64], info[128];
        struct stat st;
        snprintf(path, sizeof path, "/proc/%d/ns/pid", (int)child);
        int n = stat(path, &st) == 0
            ? snprintf(info, sizeof info, "{\"child-pid\": %d, \"pid-namespace\": %llu}\n", (int)child,
                       (unsigned long long)st.st_ino)
            : snprintf(info, sizeof info, "{\"child-pid\": %d}\n", (int)child);
        if (write(info_fd, info, n) != n) { /* nobody reads it: nothing to say */ }
        close(info_fd);
    }
    int status;
    while (waitpid(child, &status, 0) < 0)
        if (errno != EINTR) die("cannot wait for the command");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
