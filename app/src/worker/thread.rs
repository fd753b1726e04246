//! The worker's thread: jobs in, in order; answers out, polled by the UI.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{Answer, Backend, Job, Later};
use crate::controller::Effects;
use crate::domain::clock::ClockWatch;

/// The worker thread and its two channels.
#[derive(Debug)]
pub struct Worker {
    jobs: Option<mpsc::Sender<Job>>,
    answers: mpsc::Receiver<Answer>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    /// Starts the worker. Answers wait in a channel for the controller to
    /// poll (the window does so on its timer).
    pub fn spawn(mut backend: Backend) -> Worker {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (outbox, answers) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("kiosk-worker".into())
            .spawn(move || {
                let started = Instant::now();
                let mut watch = ClockWatch::new((backend.clock)(), Duration::ZERO);
                for job in inbox {
                    if let Some(by) = watch.check((backend.clock)(), started.elapsed()) {
                        backend.note_clock_change(by);
                    }
                    let answer = match job {
                        Job::Status => Some(Answer::Status(backend.status())),
                        Job::Audit { event, detail } => {
                            backend.audit_desk(event, &detail);
                            None
                        }
                        Job::Effect(session, effect) => {
                            tracing::trace!(?session, ?effect, "effect");
                            let outbox = outbox.clone();
                            let later: Later = Box::new(move |event| {
                                let _ = outbox.send(Answer::Event(session, event));
                            });
                            backend
                                .run_with(effect, later)
                                .map(|event| Answer::Event(session, event))
                        }
                    };
                    if let Some(answer) = answer
                        && outbox.send(answer).is_err()
                    {
                        break;
                    }
                }
            })
            .expect("spawning the worker thread");
        Worker {
            jobs: Some(jobs),
            answers,
            thread: Some(thread),
        }
    }
}

impl Effects for Worker {
    fn submit(&self, job: Job) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(job);
        }
    }

    fn try_answer(&self) -> Option<Answer> {
        self.answers.try_recv().ok()
    }

    fn wait_answer(&self, timeout: Duration) -> Option<Answer> {
        self.answers.recv_timeout(timeout).ok()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
