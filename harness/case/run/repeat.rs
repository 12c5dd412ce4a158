//! `repeat N`: a group of steps played N times, each step as it would be
//! played alone (every action waits for the lab to settle).

use super::super::Item;
use super::session::{Session, StepError};

impl Session<'_> {
    /// Plays `steps` `times` times. The log and the ladder show the first
    /// and the last round; a failure says which round it was. Commands that
    /// ended in a round are let go after it (their output stays on disk), so
    /// a thousand rounds do not hold a thousand processes' descriptors.
    pub(super) fn repeat(
        &mut self,
        line: usize,
        times: u32,
        steps: &[Item],
    ) -> Result<(), StepError> {
        for round in 1..=times {
            let before = self.commands.procs.len();
            let shown = round == 1 || round == times;
            if shown && times > 1 {
                self.log.push(format!(
                    "{:>7.3}s  {line}: round {round} of {times}",
                    self.clock.start.elapsed().as_secs_f64()
                ));
            }
            for item in steps {
                self.play_item(item, shown).map_err(|e| {
                    e.then(&format!(
                        "  (in round {round} of {times} of the repeat at line {line})"
                    ))
                })?;
            }
            if round < times {
                self.let_go_of_ended(before);
            }
        }
        self.log.push(format!(
            "{:>7.3}s  {line}: repeated {times} times",
            self.clock.start.elapsed().as_secs_f64()
        ));
        Ok(())
    }

    /// Drops the processes started since `from` that have ended, keeping
    /// their output files.
    fn let_go_of_ended(&mut self, from: usize) {
        let mut i = from;
        while i < self.commands.procs.len() {
            if self.commands.procs[i].1.try_exit().is_some() {
                let (_, p) = self.commands.procs.remove(i);
                p.output_files().for_each(super::hand_back);
            } else {
                i += 1;
            }
        }
    }
}
