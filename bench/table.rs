//! The one table `make bench` prints, as Markdown (which reads as well in
//! a terminal as in a GitHub job summary).

use std::fmt::Write as _;

/// One row: what was measured, tcplab's figure, the other side's (or
/// a second figure of the same thing), how they compare, and how it was
/// measured.
#[derive(Clone, Debug, Default)]
pub struct Row {
    pub what: String,
    pub tcplab: String,
    pub other: String,
    pub ratio: String,
    pub runs: String,
    pub note: String,
}

impl Row {
    /// A row that could not be measured, saying why.
    pub fn failed(what: impl Into<String>, why: impl std::fmt::Display) -> Row {
        Row {
            what: what.into(),
            tcplab: "not measured".into(),
            note: why.to_string(),
            ..Row::default()
        }
    }
}

pub struct Table {
    pub title: String,
    /// Lines under the title: date, machine, commit, how to rerun.
    pub header: Vec<String>,
    pub rows: Vec<Row>,
    /// Lines under the table: what the columns mean.
    pub footer: Vec<String>,
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

impl Table {
    pub fn markdown(&self) -> String {
        let mut t = format!("### {}\n\n", self.title);
        for l in &self.header {
            let _ = writeln!(t, "{l}  ");
        }
        t += "\n| measure | tcplab | compared with | ratio / share | runs | how, and what else was seen |\n";
        t += "| --- | --- | --- | --- | --- | --- |\n";
        for r in &self.rows {
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&r.what),
                cell(&r.tcplab),
                cell(&r.other),
                cell(&r.ratio),
                cell(&r.runs),
                cell(&r.note)
            );
        }
        if !self.footer.is_empty() {
            t += "\n";
            for l in &self.footer {
                let _ = writeln!(t, "{l}  ");
            }
        }
        t
    }
}
