/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hvkitctl: what the command groups share with the main program.
 */
#ifndef HVKITCTL_H
#define HVKITCTL_H

#include <stddef.h>
#include <stdio.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#ifndef __printf
/* The userspace twin of the kernel's __printf(); written out once here. */
#define __printf(a, b) __attribute__((format(printf, \
					     a, b)))
#endif

/* --sysfs and --dev: where sysfs and the device nodes are. */
extern const char *sysfs_root;
extern const char *dev_root;

#define PLURAL(n) ((n) == 1 ? "" : "s")

/* Read one line of a small file, without the newline: 0 or -errno. */
int read_line(const char *path, char *buf, size_t len);
/* Write @str to a sysfs/debugfs file in one write(): 0 or -errno. */
int write_line(const char *path, const char *str);

/* The kram command group (kram.c); argv[0] is "kram". */
int cmd_kram(int argc, char **argv);
/* Its detailed help, for "hvkitctl kram help" and "hvkitctl help kram". */
void kram_help(FILE *out);

/* The idlepoll command group (idlepoll.c). */
int cmd_idlepoll(int argc, char **argv);
void idlepoll_help(FILE *out);

/* The hybrid command group (hybrid.c): kvm_hybrid. */
int cmd_hybrid(int argc, char **argv);
void hybrid_help(FILE *out);

/* The pvtimer command group (pvtimer.c): pvtimer_agent and guest_pvtimer. */
int cmd_pvtimer(int argc, char **argv);
void pvtimer_help(FILE *out);

/* The vfio command group (vfio.c): vfio_preserve, through sysfs only. */
int cmd_vfio(int argc, char **argv);
void vfio_help(FILE *out);
/* Devices bound to vfio_preserve, or -errno (-ENOENT: not loaded). */
int vfio_bound_count(void);
/* The value of @key in the device's preserve_status: 0 or -errno. */
int vfio_dev_status(const char *bdf, const char *key, char *val, size_t len);
/* The name of the device's driver, "" when it has none. */
void vfio_dev_driver(const char *bdf, char *name, size_t len);
/* A PCI address into sysfs's form (0000:01:00.0): 0 or -EINVAL. */
int vfio_norm_bdf(const char *in, char *out, size_t len);

struct kram_status;
struct kram_area_info;
/* KRAM_IOC_STATUS, without messages: 0 or -errno. */
int kram_get_status(struct kram_status *st);
/* The area called @name: 0, -ENOENT, or another -errno. */
int kram_find_area(const char *name, struct kram_area_info *info);

/* The liveupdate command group (liveupdate.c): a VM through a host kexec. */
int cmd_liveupdate(int argc, char **argv);
void liveupdate_help(FILE *out);

#endif /* HVKITCTL_H */
