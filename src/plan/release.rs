//! Release planning: full release, gray start/raise/lower, finishing a gray, and rollback to the
//! previous release, following the platform's [`crate::model::Rules`].

use crate::model::{Action, GrayWalk, Stage, WalkView, fingerprint_tag};

use super::pipeline::{Planner, describe};

impl Planner<'_> {
    /// The wanted build is live already (rule 2c): adjust the gray percentage if needed.
    pub(super) fn already_released(&mut self) {
        if self.d.stage != Stage::Release {
            let note = format!(
                "already released; stage `{}` has nothing left to do",
                self.d.stage.as_str()
            );
            self.out.notes.push(note);
            return;
        }
        let live_gray = self.o.live.as_ref().and_then(|l| l.gray);
        match (live_gray, self.d.walk.as_ref()) {
            (Some(current), Some(walk)) => self.walk_on(current, walk),
            (Some(current), None) => self.adjust_gray(current),
            (None, _) if self.d.gray < 100 => self.out.notes.push(
                "already fully released; a gray percentage cannot be lowered after a full release"
                    .to_owned(),
            ),
            (None, _) => {}
        }
    }

    /// Walks the live gray of the wanted build on: the next step once the current one has held
    /// for the walk's `hold` (since minifleet raised it or first saw it there). A walk never
    /// lowers a gray.
    fn walk_on(&mut self, current: u8, walk: &GrayWalk) {
        let Some(next) = walk.after(current) else {
            if current > walk.last() {
                self.out.notes.push(format!(
                    "the gray is at {current}%, above the walk's last step {}%: a walk never \
                     lowers a gray",
                    walk.last()
                ));
            }
            return;
        };
        let fp = self.d.fingerprint.as_str();
        let mark = self.r.gray_mark.as_ref();
        let since = mark
            .filter(|m| m.fingerprint == fp && m.percent == current)
            .map(|m| m.since);
        if since.is_none() {
            self.out.notes.push(format!(
                "no record of when the {current}% step began: its hold starts at the next \
                 applying pass"
            ));
        }
        let due = since.unwrap_or(self.ctx.now).saturating_add(walk.hold_secs);
        self.out.walk = Some(WalkView {
            percent: current,
            next: Some(next),
            due: Some(due),
        });
        if self.ctx.now < due {
            return;
        }
        let held = hold_words(walk.hold_secs);
        let fingerprint = self.d.fingerprint.clone();
        if next == 100 {
            let reason = format!(
                "the {current}% step has held for {held}: end the gray walk, publish build {} to \
                 every user",
                self.wanted()
            );
            self.step(Action::Release { fingerprint }, reason);
        } else {
            let reason = format!(
                "the {current}% step has held for {held}: raise the gray of build {} to {next}% \
                 (walk {})",
                self.wanted(),
                walk_words(walk)
            );
            let action = Action::Gray {
                fingerprint,
                from: Some(current),
                to: next,
            };
            self.step(action, reason);
        }
    }

    /// The gray percentage a release of the wanted build starts at: the walk's first step, or
    /// the fleet's `gray`.
    fn first_gray(&self) -> u8 {
        match &self.d.walk {
            Some(walk) => walk.steps.first().copied().unwrap_or(100),
            None => self.d.gray,
        }
    }

    /// Moves the wanted build's running gray plan from `current`% to the wanted percentage.
    fn adjust_gray(&mut self, current: u8) {
        let (wanted, fp) = (self.d.gray, self.d.fingerprint.clone());
        if wanted == current {
            return;
        }
        if wanted == 100 {
            let reason = format!(
                "finish the {current}% gray release: publish build {} to every user",
                self.wanted()
            );
            self.step(Action::Release { fingerprint: fp }, reason);
        } else if wanted > current || !self.rules.gray_increase_only {
            let reason = format!(
                "move the gray release of build {} from {current}% to {wanted}%",
                self.wanted()
            );
            let action = Action::Gray {
                fingerprint: fp,
                from: Some(current),
                to: wanted,
            };
            self.step(action, reason);
        } else {
            self.lower_gray(current);
        }
    }

    /// Lowers a running gray where the platform only raises: revert it, then gray again.
    fn lower_gray(&mut self, current: u8) {
        let (wanted, name) = (self.d.gray, self.rules.name);
        let reason = format!(
            "gray can only go up on {name}: revert the {current}% gray, then gray again at {wanted}%"
        );
        self.step(Action::RevertGray, reason);
        let reason = format!(
            "gray build {} again at {wanted}% after the revert (gray can only go up on {name})",
            self.wanted()
        );
        let action = Action::Gray {
            fingerprint: self.d.fingerprint.clone(),
            from: None,
            to: wanted,
        };
        self.step(action, reason);
    }

    /// Restores the wanted build when it is the previous release and the stage is `release`
    /// (rule 2d). Returns whether it did.
    pub(super) fn rollback(&mut self) -> bool {
        if self.d.stage != Stage::Release || !self.fp_of(self.o.previous.as_ref()) {
            return false;
        }
        let fp = self.d.fingerprint.clone();
        if self.r.rollback_refused.as_deref() == Some(fp.as_str()) {
            self.out.notes.push(format!(
                "the platform refused to roll back to {}: going the long way through a new audit",
                fingerprint_tag(&fp)
            ));
            return false;
        }
        if self.o.live.as_ref().is_some_and(|l| l.gray.is_some()) {
            let reason =
                "the wanted build is the pre-gray release: cancelling the gray restores it";
            self.step(Action::RevertGray, reason.to_owned());
        } else {
            let reason = "the wanted build is the previous release: roll back without a new audit";
            self.step(Action::Rollback { fingerprint: fp }, reason.to_owned());
        }
        true
    }

    /// Releases the approved wanted build: full, gray, or replacing another build's gray. When the
    /// plan ended the live gray before submitting, the release before it is what is live then.
    pub(super) fn release_steps(&mut self) {
        let live = match (self.ended_gray, self.o.live.as_ref()) {
            (true, _) => self.o.previous.as_ref().map(|b| (b, None)),
            (false, live) => live.map(|l| (&l.build, l.gray)),
        };
        let Some((live_build, live_gray)) = live else {
            self.first_release();
            return;
        };
        let live_build = describe(live_build);
        if self.first_gray() == 100 {
            let mut reason = format!(
                "publish build {} to every user, replacing {live_build}",
                self.wanted()
            );
            if let Some(p) = live_gray {
                reason.push_str(&format!(" and ending its {p}% gray release"));
            }
            let fingerprint = self.d.fingerprint.clone();
            self.step(Action::Release { fingerprint }, reason);
            return;
        }
        if let Some(p) = live_gray {
            let reason = format!(
                "a {p}% gray release of {live_build} is running: cancel it before graying build {}",
                self.wanted()
            );
            self.step(Action::RevertGray, reason);
        }
        self.start_gray("");
    }

    /// The app's first release: gray only where the platform allows it.
    fn first_release(&mut self) {
        let wanted = self.first_gray();
        if wanted < 100 && self.rules.first_release_can_be_gray {
            self.start_gray("nothing is released yet: ");
            return;
        }
        if wanted < 100 {
            self.out.notes.push(format!(
                "the first release cannot be gray on {}: releasing to 100% instead of {wanted}%; \
                 later releases can be gray",
                self.rules.name
            ));
        }
        let reason = format!(
            "nothing is released yet: publish build {} to every user",
            self.wanted()
        );
        let fingerprint = self.d.fingerprint.clone();
        self.step(Action::Release { fingerprint }, reason);
    }

    /// Starts a gray release of the wanted build at the wanted percentage.
    fn start_gray(&mut self, prefix: &str) {
        let to = self.first_gray();
        let mut reason = format!(
            "{prefix}start a {to}% gray release of build {}",
            self.wanted()
        );
        if let Some(walk) = &self.d.walk {
            let held = hold_words(walk.hold_secs);
            reason.push_str(&format!(
                ", the first step of the walk {}, each held {held}",
                walk_words(walk)
            ));
        }
        let action = Action::Gray {
            fingerprint: self.d.fingerprint.clone(),
            from: None,
            to,
        };
        self.step(action, reason);
    }
}

/// A walk's steps in words: `5% → 20% → 50% → 100%`.
fn walk_words(walk: &GrayWalk) -> String {
    let steps: Vec<String> = walk.steps.iter().map(|s| format!("{s}%")).collect();
    steps.join(" → ")
}

/// A hold in words: `24h`, `30m`.
pub(crate) fn hold_words(secs: u64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
}
