//! How this process was started: alone, or as one rank of a job that `mpirun` (Open MPI, MPICH)
//! or Slurm's `srun` launched, which the launcher says through the environment.
//!
//! A build with the `mpi` feature joins the job (MPI is initialised for the command's life) and
//! `fastburn train` trains data-parallel; a build without it refuses to run as one of several
//! ranks, since each would train and write the whole model on its own.

/// A launcher's rank and size variables, and its name for the error message.
const LAUNCHERS: [(&str, &str, &str); 3] = [
    (
        "OMPI_COMM_WORLD_RANK",
        "OMPI_COMM_WORLD_SIZE",
        "Open MPI's mpirun",
    ),
    ("PMI_RANK", "PMI_SIZE", "an MPICH (Hydra) mpirun"),
    ("SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "Slurm's srun"),
];

/// (rank, size, launcher) when a launcher started this process as one of several.
pub fn launched() -> Option<(usize, usize, &'static str)> {
    let var = |name: &str| std::env::var(name).ok()?.trim().parse::<usize>().ok();
    LAUNCHERS.iter().find_map(|&(rank, size, who)| {
        let (rank, size) = (var(rank)?, var(size)?);
        (size > 1).then_some((rank, size, who))
    })
}

/// This process's rank in the job a launcher started (0 when alone).
pub fn rank() -> usize {
    launched().map_or(0, |(rank, _, _)| rank)
}

/// What [`start`] set up, kept until the process ends: MPI is finalised when it is dropped.
pub struct Job {
    #[cfg(feature = "mpi")]
    _mpi: Option<fastburn::parallel::Mpi>,
}

/// Join the job this process is a rank of, if any. Only `fastburn train` runs data-parallel;
/// a rank other than 0 prints nothing on standard output (rank 0 prints the run's lines).
pub fn start(trains: bool) -> anyhow::Result<Job> {
    let Some((rank, size, who)) = launched() else {
        return Ok(Job {
            #[cfg(feature = "mpi")]
            _mpi: None,
        });
    };
    if !trains {
        anyhow::bail!(
            "this process is rank {rank} of {size} started by {who}: only `fastburn train` runs \
             as several processes; run this command without the launcher"
        );
    }
    #[cfg(not(feature = "mpi"))]
    anyhow::bail!(
        "this process is rank {rank} of {size} started by {who}, but this fastburn was built \
         without MPI, so each rank would train on its own: build it with `cargo build --release \
         --features mpi` (Debian: apt install openmpi-bin libopenmpi-dev libclang-dev), or run \
         it without the launcher"
    );
    #[cfg(feature = "mpi")]
    {
        let mpi = fastburn::parallel::Mpi::init()?;
        if rank != 0 {
            silence_stdout();
        }
        Ok(Job { _mpi: Some(mpi) })
    }
}

/// The other ranks of this job, when there are any: the group `fastburn train` trains with.
pub fn group() -> Option<Box<dyn fastburn::parallel::Collective>> {
    #[cfg(feature = "mpi")]
    {
        use fastburn::parallel::Collective;
        let world = fastburn::parallel::MpiWorld::current()?;
        if world.size() > 1 {
            return Some(Box::new(world));
        }
    }
    None
}

/// After this rank failed (its error printed): stop every rank of the job, so that none waits
/// for this one forever. Does nothing in a process that is not one of several ranks.
pub fn stop_job() {
    #[cfg(feature = "mpi")]
    if let Some(world) = fastburn::parallel::MpiWorld::current() {
        use fastburn::parallel::Collective;
        if world.size() > 1 {
            world.abort(1);
        }
    }
}

/// Point standard output at /dev/null: the other ranks print the same lines as rank 0.
#[cfg(feature = "mpi")]
fn silence_stdout() {
    use std::os::fd::AsRawFd;
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: dup2 onto descriptor 1 replaces what stdout writes to; both descriptors are
        // valid, and `null` is closed after (descriptor 1 keeps its own reference).
        unsafe { libc::dup2(null.as_raw_fd(), 1) };
    }
}
