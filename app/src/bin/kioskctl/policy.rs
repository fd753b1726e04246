//! `kioskctl policy`: show, check and compare policy files.

use kiosk::domain::SubjectKind;
use kiosk::policy::Policy;

use crate::{Cli, CtlError, Kiosk, PolicyCommand, environment, invalid};

pub(crate) fn policy(cli: &Cli, command: &PolicyCommand) -> Result<(), CtlError> {
    match command {
        PolicyCommand::Show { built_in: true } => {
            print!("{}", Policy::built_in_text());
            Ok(())
        }
        PolicyCommand::Show { built_in: false } => {
            let kiosk = Kiosk::load(cli)?;
            if let Some(w) = &kiosk.policy_warning {
                eprintln!("warning: {w}");
            }
            print!("{}", kiosk.policy.current().to_toml());
            Ok(())
        }
        PolicyCommand::Verify { file } => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| environment(format!("{}: {e}", file.display())))?;
            let p = Policy::from_toml(&text)
                .map_err(|e| invalid(format!("{}: {e}", file.display())))?;
            println!(
                "{}: valid policy, version {} ({})",
                file.display(),
                p.version,
                p.name
            );
            Ok(())
        }
        PolicyCommand::Methods => {
            let kiosk = Kiosk::load(cli)?;
            let p = kiosk.policy.current();
            for subject in SubjectKind::ALL {
                println!("{}:", subject.as_str());
                for (method, online) in p.methods_for(subject, true) {
                    let offline = p.check_offered(method, subject, false);
                    let show = |r: &Result<_, kiosk::policy::Unavailable>| match r {
                        Ok(level) => format!("level {}", kiosk::domain::Level::get(*level)),
                        Err(why) => format!("unavailable: {why}"),
                    };
                    let chip = match p.method(method).chip_level {
                        Some(level) => format!("  with the CCCD chip: level {}", level.get()),
                        None => String::new(),
                    };
                    println!(
                        "  {:<18} online: {:<22} offline: {}{chip}",
                        method.as_str(),
                        show(&online),
                        show(&offline.map(|m| m.level))
                    );
                }
            }
            Ok(())
        }
    }
}
