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

#endif /* HVKITCTL_H */
