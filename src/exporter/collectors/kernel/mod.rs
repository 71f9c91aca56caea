//! CPU, memory, scheduler and kernel counters from /proc and /sys.

pub mod cpu;
pub mod cpu_vulnerabilities;
pub mod entropy;
pub mod filefd;
pub mod interrupts;
pub mod kernel_hung;
pub mod loadavg;
pub mod meminfo;
pub mod meminfo_numa;
pub mod pressure;
pub mod processes;
pub mod schedstat;
pub mod selinux;
pub mod softirqs;
pub mod stat;
pub mod time;
pub mod timex;
pub mod uname;
pub mod vmstat;
