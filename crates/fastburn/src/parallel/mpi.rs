//! [`Collective`] over MPI (the `mpi` crate, rsmpi): the processes `mpirun -np N` or `srun`
//! starts are the ranks of `MPI_COMM_WORLD`.

use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mpi::request::{LocalScope, RequestCollection};

use super::Collective;
use crate::error::{Error, Result};

/// Whether an [`Mpi`] is alive (MPI initialised and not finalised) in this process.
static LIVE: AtomicBool = AtomicBool::new(false);

/// MPI, initialised: `MPI_Init` when made, `MPI_Finalize` when dropped. Keep it alive while any
/// [`MpiWorld`] is in use; a process initialises MPI once.
pub struct Mpi {
    universe: Universe,
}

impl Mpi {
    /// Initialise MPI (a process that no launcher started is a world of one). fastburn's
    /// process has threads (the data loader's, the compute pool's), but only the one that
    /// trains calls MPI: MPI's "funneled" level.
    pub fn init() -> Result<Self> {
        match mpi::initialize_with_threading(mpi::Threading::Funneled) {
            Some((universe, _)) => {
                LIVE.store(true, Ordering::SeqCst);
                Ok(Self { universe })
            }
            None => Err(Error::Collective {
                op: "MPI_Init",
                reason: "MPI was already initialised in this process".into(),
            }),
        }
    }

    /// Every process of the job (`MPI_COMM_WORLD`).
    pub fn world(&self) -> MpiWorld {
        MpiWorld::new(self.universe.world())
    }
}

impl Drop for Mpi {
    fn drop(&mut self) {
        // The universe, dropped next, finalises MPI.
        LIVE.store(false, Ordering::SeqCst);
    }
}

/// The processes of an MPI job, as a [`Collective`].
///
/// No collective waits forever: each is polled, and one that has not completed within the
/// timeout (`FASTBURN_MPI_TIMEOUT` seconds, 1800 by default, PyTorch's default for its own
/// collectives) stops the job. So that the message can name the rank that did not answer, the
/// other ranks answer rank 0's pings while they wait in a collective: at the timeout rank 0
/// pings them all, and names those that stay silent (hung, frozen, or far behind).
pub struct MpiWorld {
    world: SimpleCommunicator,
    /// Collectives called so far: which one a rank is at.
    calls: Cell<u64>,
    timeout: Duration,
}

/// The tags of rank 0's "are you there" and the answer.
const PING: i32 = 17;
const PONG: i32 = 18;

/// How long rank 0 waits for the answers to its pings before naming the silent ranks.
const PING_GRACE: Duration = Duration::from_secs(5);

/// How long a collective may take when `FASTBURN_MPI_TIMEOUT` does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

impl MpiWorld {
    /// The job's world, if MPI is initialised in this process (by [`Mpi::init`]) and not yet
    /// finalised.
    pub fn current() -> Option<Self> {
        LIVE.load(Ordering::SeqCst)
            .then(|| Self::new(SimpleCommunicator::world()))
    }

    fn new(world: SimpleCommunicator) -> Self {
        let timeout = std::env::var("FASTBURN_MPI_TIMEOUT")
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(DEFAULT_TIMEOUT, Duration::from_secs_f64);
        Self {
            world,
            calls: Cell::new(0),
            timeout,
        }
    }

    /// Stop every rank of the job now (`MPI_Abort`): what a rank does when it cannot go on, so
    /// that the others do not wait for it forever.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }

    /// Run one collective: `start` posts it (its requests in the collection), then it is polled
    /// until done, answering rank 0's pings meanwhile, or until the timeout.
    fn collective<'a, D: ?Sized + 'a>(
        &self,
        op: &'static str,
        n_requests: usize,
        start: impl FnOnce(&LocalScope<'a>, &mut RequestCollection<'a, D>),
    ) {
        let call = self.calls.get() + 1;
        self.calls.set(call);
        let rank = self.rank();
        mpi::request::multiple_scope(n_requests, |scope, requests| {
            start(scope, requests);
            let begun = Instant::now();
            let mut done = Vec::new();
            let mut polls = 0u32;
            while !requests.test_all(&mut done) {
                if begun.elapsed() > self.timeout {
                    self.time_out(op, call);
                }
                polls += 1;
                if rank != 0 && polls.is_multiple_of(64) {
                    self.answer_ping();
                }
                // Spin briefly (a step's all-reduce takes milliseconds), then sleep between
                // polls.
                match polls < 10_000 {
                    true => std::thread::yield_now(),
                    false => std::thread::sleep(Duration::from_micros(200)),
                }
            }
        });
    }

    /// Answer a ping from rank 0, if one came.
    fn answer_ping(&self) {
        let root = self.world.process_at_rank(0);
        if root.immediate_probe_with_tag(PING).is_some() {
            let (call, _) = root.receive_with_tag::<u64>(PING);
            root.send_with_tag(&call, PONG);
        }
    }

    /// A collective not done within the timeout: say which ranks do not answer (rank 0 pings
    /// them) and stop the job.
    fn time_out(&self, op: &str, call: u64) -> ! {
        let rank = self.rank();
        if rank == 0 {
            let size = self.size();
            let pings = vec![call; size];
            let mut answered = vec![false; size];
            mpi::request::scope(|scope| {
                // Sent without waiting: a frozen rank never takes its ping.
                let _sent: Vec<_> = (1..size)
                    .map(|r| {
                        self.world
                            .process_at_rank(r as i32)
                            .immediate_send_with_tag(scope, &pings[r], PING)
                    })
                    .collect();
                let begun = Instant::now();
                while begun.elapsed() < PING_GRACE && answered[1..].iter().any(|a| !a) {
                    for (r, seen) in answered.iter_mut().enumerate().skip(1) {
                        let from = self.world.process_at_rank(r as i32);
                        if !*seen && from.immediate_probe_with_tag(PONG).is_some() {
                            from.receive_with_tag::<u64>(PONG);
                            *seen = true;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                let silent: Vec<String> = (1..size)
                    .filter(|&r| !answered[r])
                    .map(|r| r.to_string())
                    .collect();
                let who = match silent.len() {
                    0 => "every rank answers, waiting in it (an MPI or network fault)".to_string(),
                    1 => format!("rank {} does not answer", silent[0]),
                    _ => format!("ranks {} do not answer", silent.join(", ")),
                };
                self.stop(rank, op, call, &who)
            })
        } else {
            self.stop(rank, op, call, "no answer from the other ranks")
        }
    }

    fn stop(&self, rank: usize, op: &str, call: u64, who: &str) -> ! {
        eprintln!(
            "error: rank {rank}: {op} (collective {call}) not done after {} s: {who}; stopping \
             the job (FASTBURN_MPI_TIMEOUT sets the limit)",
            self.timeout.as_secs_f64()
        );
        self.world.abort(1)
    }
}

impl Collective for MpiWorld {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn all_reduce_sum(&self, buckets: &mut [Vec<f32>]) -> Result<()> {
        // MPI reduces from one buffer into another: the sends are copies of the buckets.
        let sends: Vec<Vec<f32>> = buckets.to_vec();
        let n = buckets.len();
        self.collective("the gradient all-reduce", n, |scope, requests| {
            for (send, recv) in sends.iter().zip(buckets.iter_mut()) {
                requests.add(self.world.immediate_all_reduce_into(
                    scope,
                    &send[..],
                    &mut recv[..],
                    SystemOperation::sum(),
                ));
            }
        });
        // MPI's default error handler stops the job on any failure, so there is none to return.
        Ok(())
    }

    fn all_reduce_sum_f64(&self, values: &mut [f64]) -> Result<()> {
        let send = values.to_vec();
        self.collective("the validation all-reduce", 1, |scope, requests| {
            requests.add(self.world.immediate_all_reduce_into(
                scope,
                &send[..],
                values,
                SystemOperation::sum(),
            ));
        });
        Ok(())
    }

    fn broadcast(&self, values: &mut [f32]) -> Result<()> {
        self.collective("the weights' broadcast", 1, |scope, requests| {
            requests.add(
                self.world
                    .process_at_rank(0)
                    .immediate_broadcast_into(scope, values),
            );
        });
        Ok(())
    }
}
