//! What the harness does to a program on Windows where Linux has a signal or /proc: Ctrl-C
//! (here Ctrl-Break, sent to the program's console process group), a freeze and a thaw (as
//! Ctrl-Z and `fg`: every thread of the process suspended, then resumed), a kill; and what
//! /proc tells on Linux: which process started which, a process's CPU time and peak memory,
//! and which ports are listened on, by whom. std has none of these, so the Win32 calls they
//! need are declared here, and only here; nothing in the lab's programs uses them.

use std::ffi::c_void;
use std::io;
use std::os::windows::io::AsRawHandle;
use std::os::windows::process::CommandExt;
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::time::Duration;

/// A Win32 handle to a process.
type Handle = *mut c_void;

/// `CREATE_NEW_PROCESS_GROUP`: the program leads a console process group of its own, whose
/// number is its process id, so a Ctrl-Break sent to that group reaches it and what it
/// starts, and not the harness.
const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;

/// `CTRL_BREAK_EVENT`. Windows delivers Ctrl-C (`CTRL_C_EVENT`) to a whole console only, never
/// to one process group, so a program is stopped as by Ctrl-Break, which a program that does
/// not catch it ends on just as on Ctrl-C (as ours and Python's do).
const CTRL_BREAK_EVENT: u32 = 1;

/// The rights asked for when opening a process: to end it, to suspend and resume it, and to
/// wait for it.
const PROCESS_TERMINATE: u32 = 0x0001;
const PROCESS_SUSPEND_RESUME: u32 = 0x0800;
const PROCESS_QUERY_LIMITED_INFORMATION: u32 = 0x1000;
const SYNCHRONIZE: u32 = 0x0010_0000;

/// `CreateToolhelp32Snapshot`'s flag for a list of every process.
const TH32CS_SNAPPROCESS: u32 = 0x0000_0002;

/// What `CreateToolhelp32Snapshot` returns when it fails.
const INVALID_HANDLE_VALUE: Handle = -1isize as Handle;

/// What `WaitForSingleObject` returns for a process that has ended.
const WAIT_OBJECT_0: u32 = 0;

/// A time as Win32 gives it: a count of 100 ns, in two halves (`FILETIME`).
#[repr(C)]
#[derive(Default)]
struct FileTime {
    low: u32,
    high: u32,
}

impl FileTime {
    /// The time in Win32's count of 100 ns.
    fn hundreds_of_ns(&self) -> u64 {
        (u64::from(self.high) << 32) | u64::from(self.low)
    }

    /// The time as a duration (for a process's CPU time, which counts from zero).
    fn duration(&self) -> Duration {
        Duration::from_nanos(self.hundreds_of_ns().saturating_mul(100))
    }
}

/// Process `pid`'s times as `GetProcessTimes` gives them: its creation, its exit, and the CPU
/// time it used in the kernel and in user mode. `None` if they cannot be read.
fn process_times(pid: u32) -> Option<[FileTime; 4]> {
    let [mut creation, mut exit, mut kernel, mut user] = Default::default();
    with_process(pid, PROCESS_QUERY_LIMITED_INFORMATION, |h| {
        // SAFETY: the handle may query the process; each pointer is to a FILETIME of ours.
        match unsafe { GetProcessTimes(h, &mut creation, &mut exit, &mut kernel, &mut user) } {
            0 => Err(io::Error::last_os_error()),
            _ => Ok(()),
        }
    })
    .ok()?;
    Some([creation, exit, kernel, user])
}

/// A process's memory counters, as `K32GetProcessMemoryInfo` fills them
/// (`PROCESS_MEMORY_COUNTERS`).
#[repr(C)]
#[derive(Default)]
struct MemoryCounters {
    size: u32,
    page_fault_count: u32,
    peak_working_set_size: usize,
    working_set_size: usize,
    quota_peak_paged_pool_usage: usize,
    quota_paged_pool_usage: usize,
    quota_peak_non_paged_pool_usage: usize,
    quota_non_paged_pool_usage: usize,
    pagefile_usage: usize,
    peak_pagefile_usage: usize,
}

/// The limits of a job, as `SetInformationJobObject` takes them
/// (`JOBOBJECT_EXTENDED_LIMIT_INFORMATION`); only `limit_flags` is set.
#[repr(C)]
#[derive(Default)]
struct JobLimits {
    per_process_user_time_limit: i64,
    per_job_user_time_limit: i64,
    limit_flags: u32,
    minimum_working_set_size: usize,
    maximum_working_set_size: usize,
    active_process_limit: u32,
    affinity: usize,
    priority_class: u32,
    scheduling_class: u32,
    io_counters: [u64; 6],
    process_memory_limit: usize,
    job_memory_limit: usize,
    peak_process_memory_used: usize,
    peak_job_memory_used: usize,
}

/// One process in a snapshot, as `Process32FirstW` fills it (`PROCESSENTRY32W`).
#[repr(C)]
struct ProcessEntry {
    size: u32,
    usage: u32,
    process_id: u32,
    default_heap_id: usize,
    module_id: u32,
    threads: u32,
    parent_process_id: u32,
    priority_class_base: i32,
    flags: u32,
    exe_file: [u16; 260],
}

#[link(name = "kernel32")]
unsafe extern "system" {
    fn GenerateConsoleCtrlEvent(event: u32, process_group_id: u32) -> i32;
    fn OpenProcess(access: u32, inherit_handle: i32, process_id: u32) -> Handle;
    fn CloseHandle(handle: Handle) -> i32;
    fn TerminateProcess(process: Handle, exit_code: u32) -> i32;
    fn WaitForSingleObject(handle: Handle, milliseconds: u32) -> u32;
    fn GetProcessTimes(
        process: Handle,
        creation: *mut FileTime,
        exit: *mut FileTime,
        kernel: *mut FileTime,
        user: *mut FileTime,
    ) -> i32;
    fn K32GetProcessMemoryInfo(process: Handle, counters: *mut MemoryCounters, size: u32) -> i32;
    fn CreateJobObjectW(attributes: *mut c_void, name: *const u16) -> Handle;
    fn SetInformationJobObject(job: Handle, class: u32, info: *mut c_void, size: u32) -> i32;
    fn AssignProcessToJobObject(job: Handle, process: Handle) -> i32;
    fn CreateToolhelp32Snapshot(flags: u32, process_id: u32) -> Handle;
    fn Process32FirstW(snapshot: Handle, entry: *mut ProcessEntry) -> i32;
    fn Process32NextW(snapshot: Handle, entry: *mut ProcessEntry) -> i32;
}

#[link(name = "iphlpapi")]
unsafe extern "system" {
    // The system's table of listening TCP sockets of one address family, each with the
    // process that owns it (TCP_TABLE_OWNER_PID_LISTENER): a count, then one row per socket.
    // Returns 0, or ERROR_INSUFFICIENT_BUFFER with the size it needs.
    fn GetExtendedTcpTable(
        table: *mut u8,
        size: *mut u32,
        order: i32,
        family: u32,
        class: u32,
        reserved: u32,
    ) -> u32;
}

#[link(name = "ntdll")]
unsafe extern "system" {
    // Suspends (resumes) every thread of a process, as a debugger does; not in Win32's
    // documented set, yet the way Windows' own tools (Process Explorer, Resource Monitor's
    // "Suspend process") freeze a whole process. Returns an NTSTATUS, 0 for success.
    fn NtSuspendProcess(process: Handle) -> i32;
    fn NtResumeProcess(process: Handle) -> i32;
}

/// Makes `command` start its program in a console process group of its own, so that
/// [`ctrl_break`] can reach it alone.
pub fn own_group(command: &mut Command) {
    command.creation_flags(CREATE_NEW_PROCESS_GROUP);
}

/// Makes `child` end when the harness does, however it ends. On Linux a terminal's Ctrl-C
/// reaches every program the demo or a test started; here each runs in a process group of
/// its own (see [`own_group`]), which Ctrl-C does not reach, so a Ctrl-C that ends the harness
/// would leave them running. Every one is put in one job that Windows closes, and kills,
/// with the harness. Where no such job can be made, they are stopped as before: on drop.
pub fn end_with_harness(child: &Child) {
    if let Some(&job) = harness_job().as_ref() {
        // SAFETY: the job handle lives as long as the process; the child's handle is open
        // while `child` is. A failure (the child has exited already) leaves nothing to do.
        unsafe { AssignProcessToJobObject(job as Handle, child.as_raw_handle()) };
    }
}

/// The job that ends with the harness (see [`end_with_harness`]), made once; its handle as an
/// integer, since a raw pointer cannot be shared between threads.
fn harness_job() -> &'static Option<usize> {
    /// JobObjectExtendedLimitInformation, and its flag that kills the job's processes when
    /// its last handle, ours, closes.
    const EXTENDED_LIMITS: u32 = 9;
    const KILL_ON_JOB_CLOSE: u32 = 0x2000;
    static JOB: OnceLock<Option<usize>> = OnceLock::new();
    JOB.get_or_init(|| {
        // SAFETY: no attributes and no name: a new, unnamed job.
        let job = unsafe { CreateJobObjectW(std::ptr::null_mut(), std::ptr::null()) };
        if job.is_null() {
            return None;
        }
        let mut limits = JobLimits {
            limit_flags: KILL_ON_JOB_CLOSE,
            ..JobLimits::default()
        };
        let size = std::mem::size_of::<JobLimits>() as u32;
        let info = (&mut limits as *mut JobLimits).cast::<c_void>();
        // SAFETY: `info` points to a JOBOBJECT_EXTENDED_LIMIT_INFORMATION of `size` bytes.
        match unsafe { SetInformationJobObject(job, EXTENDED_LIMITS, info, size) } {
            0 => None,
            _ => Some(job as usize),
        }
    })
}

/// Sends Ctrl-Break to the process group led by `pid` (started with [`own_group`]).
pub fn ctrl_break(pid: u32) -> io::Result<()> {
    // SAFETY: plain integers in, a BOOL out.
    if unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, pid) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Freezes every thread of process `pid`, as Ctrl-Z does on Linux.
pub fn suspend(pid: u32) -> io::Result<()> {
    // SAFETY: the handle is one OpenProcess gave with the right to suspend.
    with_process(pid, PROCESS_SUSPEND_RESUME, |h| {
        status(unsafe { NtSuspendProcess(h) })
    })
}

/// Lets a process frozen by [`suspend`] run again.
pub fn resume(pid: u32) -> io::Result<()> {
    // SAFETY: the handle is one OpenProcess gave with the right to resume.
    with_process(pid, PROCESS_SUSPEND_RESUME, |h| {
        status(unsafe { NtResumeProcess(h) })
    })
}

/// Ends process `pid` at once, as a crash would (SIGKILL on Linux).
pub fn terminate(pid: u32) -> io::Result<()> {
    with_process(pid, PROCESS_TERMINATE, |h| {
        // SAFETY: the handle is one OpenProcess gave with the right to terminate. Exit code 1.
        match unsafe { TerminateProcess(h, 1) } {
            0 => Err(io::Error::last_os_error()),
            _ => Ok(()),
        }
    })
}

/// True when process `pid` has ended, or no such process exists any more.
pub fn is_dead(pid: u32) -> bool {
    // SAFETY: the handle is one OpenProcess gave with the right to wait on it; 0 ms: a look.
    match with_process(pid, SYNCHRONIZE, |h| {
        Ok(unsafe { WaitForSingleObject(h, 0) })
    }) {
        Ok(waited) => waited == WAIT_OBJECT_0,
        Err(_) => true,
    }
}

/// The CPU time (user and kernel) process `pid` has used so far, all its threads included:
/// what /proc/PID/stat's utime and stime give on Linux. `None` if it cannot be read.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let [_, _, kernel, user] = process_times(pid)?;
    Some(kernel.duration() + user.duration())
}

/// The most memory process `pid` has held in RAM at once, in bytes (its peak working set):
/// what /proc/PID/status's VmHWM gives on Linux. `None` if it cannot be read.
pub fn peak_memory(pid: u32) -> Option<u64> {
    let mut counters = MemoryCounters {
        size: std::mem::size_of::<MemoryCounters>() as u32,
        ..MemoryCounters::default()
    };
    with_process(pid, PROCESS_QUERY_LIMITED_INFORMATION, |h| {
        // SAFETY: the handle may query the process; the counters are ours, their size given.
        match unsafe { K32GetProcessMemoryInfo(h, &mut counters, counters.size) } {
            0 => Err(io::Error::last_os_error()),
            _ => Ok(()),
        }
    })
    .ok()?;
    Some(counters.peak_working_set_size as u64)
}

/// The TCP ports that sockets listen on, IPv4 and IPv6, each with the id of the process that
/// listens, from the system's tables of sockets: what /proc/net/tcp and /proc/PID/fd give on
/// Linux. `None` if neither table can be read.
pub fn listeners() -> Option<Vec<(u16, u32)>> {
    /// AF_INET and AF_INET6.
    const FAMILIES: [u32; 2] = [2, 23];
    // A row of each (MIB_TCPROW_OWNER_PID, MIB_TCP6ROW_OWNER_PID), and where in it the local
    // port and the owner's id are: IPv4 has state, local address, local port, remote address,
    // remote port, owner; IPv6 has local address (16 bytes), scope, local port, remote
    // address (16), scope, remote port, state, owner.
    const LAYOUTS: [(usize, usize, usize); 2] = [(24, 8, 20), (56, 20, 52)];
    let mut found = None;
    for (family, (row_len, port_at, pid_at)) in FAMILIES.into_iter().zip(LAYOUTS) {
        let Some(rows) = tcp_table(family, row_len) else {
            continue;
        };
        let field = |row: &[u8], at: usize| -> [u8; 4] {
            let mut bytes = [0; 4];
            bytes.copy_from_slice(&row[at..at + 4]);
            bytes
        };
        let listening = rows.chunks_exact(row_len).map(|row| {
            // The port is in network byte order, in the low two bytes of its u32.
            let port = field(row, port_at);
            (
                u16::from_be_bytes([port[0], port[1]]),
                u32::from_ne_bytes(field(row, pid_at)),
            )
        });
        found.get_or_insert_with(Vec::new).extend(listening);
    }
    found
}

/// The ports that sockets listen on (see [`listeners`]).
pub fn listening_ports() -> Option<Vec<u16>> {
    Some(listeners()?.into_iter().map(|(port, _)| port).collect())
}

/// The rows of the table of listening TCP sockets of `family`, each `row_len` bytes.
fn tcp_table(family: u32, row_len: usize) -> Option<Vec<u8>> {
    /// TCP_TABLE_OWNER_PID_LISTENER: listening sockets only, with their owners.
    const LISTENERS: u32 = 3;
    /// ERROR_INSUFFICIENT_BUFFER: the table outgrew the buffer; try again with the size given.
    const TOO_SMALL: u32 = 122;
    let mut size: u32 = 4096;
    // A socket opened between two calls makes the table larger again: a few tries.
    for _ in 0..4 {
        // u32s, for the table's alignment; `size` is in bytes.
        let mut buffer = vec![0u32; (size as usize).div_ceil(4)];
        let table = buffer.as_mut_ptr().cast::<u8>();
        // SAFETY: the buffer holds at least `size` bytes, as the call is told, and is aligned
        // for the table's u32s; the call writes no more than `size`.
        match unsafe { GetExtendedTcpTable(table, &mut size, 0, family, LISTENERS, 0) } {
            0 => {
                let bytes: Vec<u8> = buffer.iter().flat_map(|u| u.to_ne_bytes()).collect();
                let count = *buffer.first()? as usize;
                // The rows follow the count; an IPv4 row needs no more alignment than it has.
                return bytes.get(4..4 + count * row_len).map(<[u8]>::to_vec);
            }
            TOO_SMALL => continue,
            _ => return None,
        }
    }
    None
}

/// Every process's (id, parent's id), from a snapshot of the system's process list: what
/// /proc/PID/stat gives on Linux. Empty if no snapshot can be taken.
///
/// Windows keeps the id of a parent that has exited, and gives that id to a new process: the
/// worker that gets the id of explorer.exe's long-gone parent (userinit.exe), or under Wine
/// of services.exe's (wineboot.exe, seen in CI), would count them as its children, and
/// stopping it would freeze and kill them. So a pair counts only when the parent started
/// before the child, as Process Explorer checks; a process whose start cannot be read (one
/// of the system's) is nobody's child here, and we could not stop it anyway.
pub fn parents() -> Vec<(u32, u32)> {
    started_after_their_parents(listed_parents(), started_at)
}

/// The (id, parent's id) pairs of `listed` whose parent started no later than the child, by
/// `started_at`; a pair where either start is unknown is left out (see [`parents`]).
fn started_after_their_parents(
    listed: Vec<(u32, u32)>,
    started_at: impl Fn(u32) -> Option<u64>,
) -> Vec<(u32, u32)> {
    let started: std::collections::HashMap<u32, u64> = listed
        .iter()
        .filter_map(|&(pid, _)| Some((pid, started_at(pid)?)))
        .collect();
    listed
        .into_iter()
        .filter(
            |(child, parent)| match (started.get(parent), started.get(child)) {
                (Some(parent), Some(child)) => parent <= child,
                _ => false,
            },
        )
        .collect()
}

/// When process `pid` started, in Win32's count of 100 ns; `None` if it cannot be read.
fn started_at(pid: u32) -> Option<u64> {
    let [creation, ..] = process_times(pid)?;
    Some(creation.hundreds_of_ns())
}

/// Every process's (id, parent's id) as the snapshot lists them, stale parents' ids included.
fn listed_parents() -> Vec<(u32, u32)> {
    // SAFETY: asks for a snapshot of every process; the result is checked before use.
    let snapshot = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0) };
    if snapshot == INVALID_HANDLE_VALUE || snapshot.is_null() {
        return Vec::new();
    }
    let mut found = Vec::new();
    // SAFETY: all-zero bytes are a valid ProcessEntry (integers and an array of them).
    let mut entry: ProcessEntry = unsafe { std::mem::zeroed() };
    entry.size = std::mem::size_of::<ProcessEntry>() as u32;
    // SAFETY: the snapshot is valid and `entry` is a PROCESSENTRY32W with its size set, as
    // both calls require; each call only writes into it.
    let mut more = unsafe { Process32FirstW(snapshot, &mut entry) } != 0;
    while more {
        found.push((entry.process_id, entry.parent_process_id));
        // SAFETY: as above.
        more = unsafe { Process32NextW(snapshot, &mut entry) } != 0;
    }
    // SAFETY: the snapshot is ours and closed once.
    unsafe { CloseHandle(snapshot) };
    found
}

/// Opens process `pid` with `access`, runs `act` on the handle, and closes it.
fn with_process<T>(
    pid: u32,
    access: u32,
    act: impl FnOnce(Handle) -> io::Result<T>,
) -> io::Result<T> {
    // SAFETY: plain integers in; the handle is checked before use.
    let handle = unsafe { OpenProcess(access, 0, pid) };
    if handle.is_null() {
        return Err(io::Error::last_os_error());
    }
    let result = act(handle);
    // SAFETY: the handle is ours and closed once.
    unsafe { CloseHandle(handle) };
    result
}

/// An NTSTATUS as a result: 0 is success.
fn status(code: i32) -> io::Result<()> {
    match code {
        0 => Ok(()),
        _ => Err(io::Error::other(format!("NTSTATUS {code:#x}"))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;

    /// What a Wine run showed: services.exe (56) listed with parent 40, the id of the gone
    /// wineboot.exe, which a worker started later now has. The worker's real child (60) is its
    /// child; services.exe is nobody's here, and neither is a process whose start is unknown.
    #[test]
    fn a_parent_id_taken_by_a_later_process_names_no_parent() {
        let started = |pid| match pid {
            56 => Some(100),
            40 => Some(300),
            60 => Some(350),
            _ => None,
        };
        let listed = vec![(56, 40), (40, 8), (60, 40), (70, 40)];
        assert_eq!(started_after_their_parents(listed, started), vec![(60, 40)]);
    }

    /// A program we start is listed as our child.
    #[test]
    fn a_started_program_is_our_child() {
        // cmd waits for a line on its stdin, a pipe nobody writes, until it is killed.
        let mut child = Command::new("cmd")
            .args(["/c", "set /p line="])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let listed = parents();
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            listed.contains(&(child.id(), std::process::id())),
            "{} not listed as a child of {}",
            child.id(),
            std::process::id()
        );
    }
}
