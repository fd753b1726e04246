//! The worker of a kiosk never enrolled: it has no portal key to seal
//! anything to, so it opens no store and runs no device; it answers the
//! status (the watchdog hears the UI and it are alive) and carries out the
//! technician's enrolment.

use std::sync::mpsc;
use std::time::Duration;

use super::{Answer, Job, Status};
use crate::controller::Effects;
use crate::flow::{Effect, Event};
use crate::keys::Keyring;

/// See the module documentation.
#[derive(Debug)]
pub struct SetupWorker {
    jobs: mpsc::Sender<Job>,
    answers: mpsc::Receiver<Answer>,
}

impl SetupWorker {
    pub fn spawn(keys: Keyring) -> SetupWorker {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (outbox, answers) = mpsc::channel();
        std::thread::Builder::new()
            .name("kiosk-setup".into())
            .spawn(move || {
                for job in inbox {
                    let answer = match job {
                        Job::Status => Answer::Status(Status::default()),
                        Job::Effect(
                            session,
                            Effect::Enrol {
                                data_dir,
                                portal,
                                code,
                                pin,
                            },
                        ) => Answer::Event(
                            session,
                            Event::Enrolled(enrol(
                                &keys,
                                &data_dir,
                                &portal,
                                &code,
                                pin.as_deref(),
                            )),
                        ),
                        Job::Effect(_, effect) => {
                            tracing::warn!(?effect, "not carried out before enrolment");
                            continue;
                        }
                        Job::Audit { .. } => continue,
                    };
                    if outbox.send(answer).is_err() {
                        break;
                    }
                }
            })
            .expect("spawning the setup worker");
        SetupWorker { jobs, answers }
    }
}

impl Effects for SetupWorker {
    fn submit(&self, job: Job) {
        let _ = self.jobs.send(job);
    }

    fn try_answer(&self) -> Option<Answer> {
        self.answers.try_recv().ok()
    }

    fn wait_answer(&self, timeout: Duration) -> Option<Answer> {
        self.answers.recv_timeout(timeout).ok()
    }
}

/// The technician's enrolment with the portal, as the setup page hears it:
/// the kiosk's id, or why not in the technician's words.
pub fn enrol(
    keys: &Keyring,
    data_dir: &std::path::Path,
    portal: &str,
    code: &crate::domain::EnrolCode,
    pin: Option<&str>,
) -> Result<i64, String> {
    match crate::uplink::enrol(keys, data_dir, portal, code.expose(), pin) {
        Ok(enrolment) => {
            tracing::info!(kiosk_id = enrolment.kiosk_id, "enrolled with the portal");
            Ok(enrolment.kiosk_id)
        }
        Err(e) => {
            tracing::warn!(error = %e, "enrolment failed");
            Err(e.to_string())
        }
    }
}
