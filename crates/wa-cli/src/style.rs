//! Terminal colours: on for terminals, off for pipes, `NO_COLOR` and `--color never`.

use std::fmt::Display;
use std::io::IsTerminal as _;

/// When to colour output (`--color`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// Colour when the stream is a terminal and `NO_COLOR` is unset.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Paints text with ANSI SGR codes, or leaves it alone.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    color: bool,
}

/// Which stream a [`Style`] is for.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Style {
    /// The style for `stream` under `when`, following <https://no-color.org>.
    pub fn new(when: ColorWhen, stream: Stream) -> Style {
        let color = match when {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
                let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
                let terminal = match stream {
                    Stream::Stdout => std::io::stdout().is_terminal(),
                    Stream::Stderr => std::io::stderr().is_terminal(),
                };
                terminal && !no_color && !dumb
            }
        };
        Style { color }
    }

    /// A style that never colours.
    #[cfg(test)]
    pub fn plain() -> Style {
        Style { color: false }
    }

    /// Whether this style emits colour codes.
    pub fn is_colored(self) -> bool {
        self.color
    }

    fn paint(self, code: &str, text: impl Display) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Bold.
    pub fn bold(self, text: impl Display) -> String {
        self.paint("1", text)
    }

    /// Dimmed, for labels and secondary detail.
    pub fn dim(self, text: impl Display) -> String {
        self.paint("2", text)
    }

    /// Green, for success.
    pub fn ok(self, text: impl Display) -> String {
        self.paint("32", text)
    }

    /// Bold red, for errors.
    pub fn error(self, text: impl Display) -> String {
        self.paint("1;31", text)
    }

    /// Yellow, for warnings and hints.
    pub fn warn(self, text: impl Display) -> String {
        self.paint("33", text)
    }

    /// Cyan, for names, addresses and values worth spotting.
    pub fn accent(self, text: impl Display) -> String {
        self.paint("36", text)
    }
}
