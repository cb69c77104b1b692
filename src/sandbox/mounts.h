/* The mount policy for extra mounts: host directories an operator wants inside a group's
 * container. Every request passes mount_validate(); nanocell's own mounts (group folder, IPC dir,
 * proxy socket) are built elsewhere and only go through mount_never_hit().
 *
 * The policy, after NanoClaw's mount-security (see docs), with nanocell's additions:
 * - An allowlist file (TOML, util/toml.h's subset) outside the data dir, never mounted, names the
 *   roots that extra mounts may come from. Without it no extra mount is allowed.
 * - The host path is resolved with realpath() before any check, so a symlink cannot lead out of
 *   a root or around a blocked pattern.
 * - Blocked patterns (the built-in list plus the file's) are plain substrings of the real path:
 *   a path component equal to or containing a pattern, or the whole path containing it, is
 *   refused. Only the mount source is checked; what lies below it is not searched.
 * - The source must be equal to or below a root's real path, compared by whole components.
 * - A mount is read-only unless it asks for rw, its root allows rw and the group is the main
 *   group. A non-main group is forced read-only with a note, not an error.
 * - The engine sockets and nanocell's own files are never mounted, nor any parent of them.
 * - Only directories and regular files are mounted: never a socket, device or fifo.
 * - Binds are non-recursive (the spec builder sets BindOptions.NonRecursive): nothing mounted
 *   below a source comes along. Below API 1.44, where a read-only bind could not be recursive,
 *   a read-only source with mounts below it is refused too, in case an engine ignores
 *   NonRecursive.
 * - Paths that the engines' mount syntax cannot carry are refused: ':' breaks Binds, and Podman's
 *   compat layer joins Mounts into "type=bind,source=S,target=T,..." strings, where ',' '"' or a
 *   control character in S or T would inject options. */
#ifndef NC_SANDBOX_MOUNTS_H
#define NC_SANDBOX_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/cleanup.h"
#include "util/error.h"

#define MOUNT_TARGET_PREFIX "/workspace/extra/"
#define MOUNT_CONTAINER_PATH_MAX 255
/* /proc/self/mountinfo is read whole; hosts with thousands of containers stay well below. */
#define MOUNT_MOUNTINFO_MAX (16 * 1024 * 1024)
/* The first API minor version with BindOptions.ReadOnlyForceRecursive. */
#define MOUNT_API_RECURSIVE_RO 44

typedef struct mount_root {
    char *path;        /* as configured, ~ expanded: absolute */
    char *real;        /* realpath(path), or NULL when it cannot be resolved: matches nothing */
    int real_errno;    /* why real is NULL (0 otherwise) */
    bool read_write;   /* read_write = true in the file; default false */
    char *description; /* NULL when not given */
    unsigned line;     /* of its [[root]] header in the file */
} mount_root;

typedef struct mount_allowlist {
    char *source; /* the file name it was parsed from, for messages */
    mount_root *roots;
    size_t nroots;
    char **blocked; /* built-in patterns first, then the file's, deduplicated; NULL-terminated */
} mount_allowlist;

/* The built-in blocked patterns, in NanoClaw's order; NULL-terminated. */
const char *const *mount_default_blocked(void);

/* Where the allowlist lives: /etc/nanocell/mount-allowlist.toml for root (euid 0), else
 * $XDG_CONFIG_HOME/nanocell/mount-allowlist.toml, else ~/.config/nanocell/mount-allowlist.toml.
 * Relative $XDG_CONFIG_HOME and $HOME are ignored. -ENOENT when neither gives a path. */
int mount_allowlist_default_path(char **ret);
/* Reads and parses the allowlist at path (NULL: the default path). A missing file is -ENOENT
 * with a message that says so; callers then allow no extra mounts. */
int mount_allowlist_load(const char *path, mount_allowlist **ret, nc_error **err);
/* Parses allowlist text. filename is used in messages ("FILE:LINE:COL: ...") and kept as
 * ->source. Each root is resolved with realpath() here; a root that does not resolve is kept
 * with real == NULL. */
int mount_allowlist_parse(const char *text, size_t len, const char *filename, mount_allowlist **ret,
                          nc_error **err);
void mount_allowlist_free(mount_allowlist *a); /* accepts NULL */
NC_DEFINE_CLEANUP(mount_allowlist *, mount_allowlist_free)
#define _cleanup_mount_allowlist_ _cleanup_(mount_allowlist_freep)
/* A multi-line, human-readable account of the allowlist for `nanocell doctor` and `policy
 * check`: each root with its real path and mode, or why it matches nothing, and the blocked
 * patterns. a may be NULL (no allowlist). Allocated. */
char *mount_allowlist_describe(const mount_allowlist *a);

/* "HOST_PATH[:CONTAINER_PATH][:ro|:rw]". HOST_PATH is absolute or starts with ~ (expanded when
 * validated); CONTAINER_PATH defaults to the last component of HOST_PATH; the mode defaults to
 * ro. A path cannot hold ':'. */
typedef struct mount_request {
    char *spec; /* the text it was parsed from, for messages (NULL when built by hand) */
    char *host_path;
    char *container_path; /* relative, checked with mount_container_path_check() */
    bool want_rw;
} mount_request;
int mount_request_parse(const char *spec, mount_request *ret, nc_error **err);
void mount_request_release(mount_request *r); /* frees the fields, zeroes r */
/* CONTAINER_PATH rules: non-empty, relative, at most MOUNT_CONTAINER_PATH_MAX bytes, every
 * component non-empty and neither "." nor "..", no ':' ',' '"' or control character. */
int mount_container_path_check(const char *path, nc_error **err);
/* "~" and "~/x" become $HOME and $HOME/x; anything else is copied. The result must be absolute:
 * -EINVAL otherwise (also when $HOME is needed but unset or relative). */
int mount_expand_home(const char *path, char **ret, nc_error **err);
/* Whether path equals dir or lies below it, comparing whole components (/a/b2 is not below
 * /a/b). Both absolute; trailing slashes on dir are ignored. */
bool mount_path_under(const char *path, const char *dir);

/* A validated mount, ready for the spec builder. */
typedef struct mount_spec {
    char *source; /* the real host path */
    char *target; /* MOUNT_TARGET_PREFIX + container path */
    bool read_only;
    dev_t dev; /* the source's identity when it was checked */
    ino_t ino;
    char *note; /* why a rw request became read-only, or NULL */
} mount_spec;

/* Applies the whole policy to one request. a may be NULL (no allowlist: every request is
 * refused). is_main: the group is the main group. api_minor: the negotiated engine API
 * version 1.<api_minor>. never: extra paths that are never mounted (the engine socket in use,
 * the allowlist file, the config file, the data dir), NULL-terminated, may be NULL; the
 * built-in mount_default_never() list always applies too. Refusals are -EPERM, malformed
 * requests -EINVAL, a missing source -ENOENT; messages start "mount 'SPEC': ". */
int mount_validate(const mount_allowlist *a, const mount_request *req, bool is_main, int api_minor,
                   char *const *never, mount_spec *ret, nc_error **err);
void mount_spec_release(mount_spec *m); /* frees the fields, zeroes m */

/* Whether path (a real path) is equal to, inside, or a parent of any entry of never. Entries
 * are compared as written and as resolved (realpath of the entry, or of its directory when the
 * entry itself does not exist), so /var/run/docker.sock also catches /run/docker.sock when
 * /var/run links to /run. Returns the offending entry (borrowed from never) or NULL. Empty and
 * relative entries are ignored. Used for nanocell's own mounts too. */
const char *mount_never_hit(const char *path, char *const *never);
/* The engine sockets that are never mounted: /var/run/docker.sock, /run/docker.sock,
 * /run/podman/podman.sock, /run/containerd/containerd.sock, and with an absolute
 * $XDG_RUNTIME_DIR its podman/podman.sock and docker.sock. Allocated, NULL-terminated. */
char **mount_default_never(void);

/* Looks in mountinfo text (the format of /proc/self/mountinfo) for a mount point strictly below
 * path. Returns 1 and stores the first one (allocated) in *ret_below, 0 when there is none, and
 * -EINVAL for text that is not mountinfo (a line with fewer than five fields, a bad escape). */
int mount_find_submount(const char *mountinfo, size_t len, const char *path, char **ret_below);

#endif
