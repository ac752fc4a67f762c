//! Live lint: the engine's diagnostics, compiled prompt and chunk plan for the script being edited.

use promptbook_engine::check::{CheckOptions, CheckReport, check};

use super::highlight::Mark;

/// One problem as the editor shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub is_error: bool,
    pub message: String,
    pub line: usize,
    pub column: usize,
    pub span: std::ops::Range<usize>,
}

/// Everything the studio derives from one version of the script.
#[derive(Debug, Clone)]
pub struct Lint {
    pub problems: Vec<Problem>,
    pub report: CheckReport,
}

impl Lint {
    pub fn of(source: &str, opts: &CheckOptions) -> Self {
        let report = check(source, opts);
        let mut problems: Vec<Problem> = report
            .errors
            .iter()
            .map(|i| (true, i))
            .chain(report.warnings.iter().map(|i| (false, i)))
            .map(|(is_error, i)| Problem {
                is_error,
                message: i.message.clone(),
                line: i.line,
                column: i.column,
                span: i.span.clone(),
            })
            .collect();
        // Errors first, each group in reading order.
        problems.sort_by_key(|p| (!p.is_error, p.line, p.column));
        Self { problems, report }
    }

    pub fn error_count(&self) -> usize {
        self.problems.iter().filter(|p| p.is_error).count()
    }

    pub fn warning_count(&self) -> usize {
        self.problems.len() - self.error_count()
    }

    pub fn marks(&self) -> Vec<Mark> {
        self.problems.iter().map(|p| Mark { range: p.span.clone(), is_error: p.is_error }).collect()
    }
}
