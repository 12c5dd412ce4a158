//! Why a step or block stopped the run, as fields: the line it is
//! attributed to, what kind of failure it is (a step, a block, a rule that
//! never acted, ...), what went wrong, and a note that goes right under
//! that first line (traffic on a port the case does not capture), then the
//! detail (expected and observed, side by side).

use crate::case::outcome::Cause;

#[derive(Debug)]
pub(crate) struct StepError {
    pub(crate) line: usize,
    pub(crate) cause: Cause,
    /// What went wrong: the failure's first line, after `file:line: `.
    pub(crate) text: String,
    /// Shown under the first line.
    pub(crate) note: Option<String>,
    /// The lines after it (indented).
    pub(crate) detail: String,
}

impl StepError {
    /// A step that did not happen as written, at `line`. A multi-line
    /// `text` keeps its first line as the text and the rest as detail.
    pub(crate) fn at(line: usize, text: impl Into<String>) -> StepError {
        StepError::of(Cause::Step, line, text)
    }

    /// A failure for `cause` at `line`.
    pub(crate) fn of(cause: Cause, line: usize, text: impl Into<String>) -> StepError {
        let text = text.into();
        let (first, rest) = match text.split_once('\n') {
            Some((first, rest)) => (first.to_string(), rest.to_string()),
            None => (text, String::new()),
        };
        StepError {
            line,
            cause,
            text: first,
            note: None,
            detail: rest,
        }
    }

    /// The same failure, for `cause`.
    pub(crate) fn because(self, cause: Cause) -> StepError {
        StepError { cause, ..self }
    }

    /// The same failure with `note` under its first line.
    pub(crate) fn noted(self, note: Option<String>) -> StepError {
        StepError { note, ..self }
    }

    /// The same failure with `more` as its last line.
    pub(crate) fn then(mut self, more: &str) -> StepError {
        if !self.detail.is_empty() {
            self.detail.push('\n');
        }
        self.detail.push_str(more);
        self
    }

    /// The text a person reads, after `file:line: `: the first line, the
    /// note, the detail.
    pub(crate) fn shown(&self) -> String {
        let mut t = self.text.clone();
        for more in [self.note.as_deref(), Some(self.detail.as_str())]
            .into_iter()
            .flatten()
            .filter(|m| !m.is_empty())
        {
            t.push('\n');
            t.push_str(more);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::StepError;
    use crate::case::outcome::Cause;

    #[test]
    fn a_note_goes_under_the_first_line_and_the_detail_after_it() {
        let e = StepError::of(Cause::Block, 7, "packets differ\n  expected:\n  observed:")
            .noted(Some("  meanwhile TCP went to port 22222".into()));
        assert_eq!(
            e.shown(),
            "packets differ\n  meanwhile TCP went to port 22222\n  expected:\n  observed:"
        );
        assert_eq!((e.line, e.cause), (7, Cause::Block));
        let plain = StepError::at(3, "no command was started on client");
        assert_eq!(plain.shown(), "no command was started on client");
        assert_eq!(plain.cause, Cause::Step);
        let noted = StepError::at(3, "one line").noted(Some("  a note".into()));
        assert_eq!(noted.shown(), "one line\n  a note");
    }
}
