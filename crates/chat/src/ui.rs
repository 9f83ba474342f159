//! The screen: conversations on the left, the one shown in the middle,
//! friends on the right, a status line and the input at the bottom.

use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as Row, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use crate::state::{Chat, Conn, Kind, Line, What};
use crate::wrap::{truncate, width, wrap};

const LEFT: u16 = 22;
const RIGHT: u16 = 20;

const NICK_COLOURS: [Color; 10] = [
    Color::Cyan,
    Color::Green,
    Color::Yellow,
    Color::Magenta,
    Color::Blue,
    Color::LightRed,
    Color::LightGreen,
    Color::LightCyan,
    Color::LightMagenta,
    Color::LightBlue,
];

/// A nick's colour: the same nick always gets the same one.
pub fn nick_colour(nick: &str) -> Color {
    // FNV-1a over the lowercased nick.
    let mut h: u32 = 0x811c_9dc5;
    for b in nick.to_lowercase().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    NICK_COLOURS[h as usize % NICK_COLOURS.len()]
}

pub fn draw(f: &mut Frame<'_>, chat: &mut Chat, now: i64) {
    let area = f.area();
    let [main, status, input] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let show_left = area.width >= 50;
    let show_right = area.width >= 90;
    let [left, middle, right] = Layout::horizontal([
        Constraint::Length(if show_left { LEFT } else { 0 }),
        Constraint::Min(20),
        Constraint::Length(if show_right { RIGHT } else { 0 }),
    ])
    .areas(main);
    if show_left {
        draw_conversations(f, chat, left);
    }
    draw_messages(f, chat, middle, now);
    if show_right {
        draw_friends(f, chat, right);
    }
    draw_status(f, chat, status, now);
    draw_input(f, chat, input);
}

fn draw_conversations(f: &mut Frame<'_>, chat: &Chat, area: Rect) {
    let inner_w = area.width.saturating_sub(2) as usize;
    let mut rows = Vec::new();
    for (i, b) in chat.buffers.iter().enumerate() {
        let number = if i < 9 {
            format!("{} ", i + 1)
        } else {
            "  ".into()
        };
        let name = match b.kind {
            Kind::Server => chat
                .srv
                .network
                .clone()
                .unwrap_or_else(|| "server".to_string()),
            Kind::Query => chat.shown_name(&b.name),
            _ => b.name.clone(),
        };
        let count = match (b.unread, b.mention) {
            (0, _) => String::new(),
            (n, true) => format!(" !{n}"),
            (n, false) => format!(" {n}"),
        };
        let room = inner_w.saturating_sub(width(&number) + width(&count));
        let name = truncate(&name, room).to_string();
        let pad = " ".repeat(room.saturating_sub(width(&name)));
        let mut style = Style::default();
        if b.kind == Kind::Channel && !b.joined {
            style = style.fg(Color::DarkGray);
        }
        if b.mention {
            style = style.fg(Color::LightRed).add_modifier(Modifier::BOLD);
        } else if b.unread > 0 {
            style = style.add_modifier(Modifier::BOLD);
        }
        if i == chat.active {
            style = style.add_modifier(Modifier::REVERSED);
        }
        rows.push(Row::from(vec![
            Span::styled(number, Style::default().fg(Color::DarkGray)),
            Span::styled(format!("{name}{pad}{count}"), style),
        ]));
    }
    let block = Block::default().borders(Borders::ALL).title(" chats ");
    f.render_widget(Paragraph::new(rows).block(block), area);
}

/// The rows of one line: time, who, and the text wrapped under itself.
fn line_rows(l: &Line, cols: usize, now: i64) -> Vec<Row<'static>> {
    let time = format!("{} ", crate::time::clock(l.time, now));
    let dim = Style::default().fg(Color::DarkGray);
    let colour = nick_colour(&l.nick);
    let mut nick_style = Style::default().fg(colour);
    if l.own {
        nick_style = nick_style.add_modifier(Modifier::BOLD);
    }
    let (who, text_style): (Vec<Span<'static>>, Style) = match l.what {
        What::Message => (
            vec![
                Span::styled("<", dim),
                Span::styled(l.nick.clone(), nick_style),
                Span::styled("> ", dim),
            ],
            Style::default(),
        ),
        What::Action => (
            vec![
                Span::styled("* ", nick_style),
                Span::styled(format!("{} ", l.nick), nick_style),
            ],
            Style::default().add_modifier(Modifier::ITALIC),
        ),
        What::Notice => (
            vec![
                Span::styled("-", dim),
                Span::styled(l.nick.clone(), nick_style),
                Span::styled("- ", dim),
            ],
            Style::default(),
        ),
        What::Info => (vec![Span::styled("-- ", dim)], dim),
        What::Alert => (
            vec![Span::styled(
                "!! ",
                Style::default()
                    .fg(Color::LightRed)
                    .add_modifier(Modifier::BOLD),
            )],
            Style::default().fg(Color::Yellow),
        ),
    };
    let indent = width(&time) + who.iter().map(|s| width(&s.content)).sum::<usize>();
    // A very long nick on a narrow screen: the text goes under it.
    let indent = if indent + 10 > cols { 2 } else { indent };
    let first_on_own_row = indent == 2;
    let mut rows = Vec::new();
    let text_rows = wrap(&l.text, cols.saturating_sub(indent).max(2));
    let mut head: Vec<Span<'static>> = vec![Span::styled(time, dim)];
    head.extend(who);
    if first_on_own_row {
        rows.push(Row::from(head));
        for r in text_rows {
            rows.push(Row::from(vec![
                Span::raw("  "),
                Span::styled(r, text_style),
            ]));
        }
        return rows;
    }
    for (n, r) in text_rows.into_iter().enumerate() {
        if n == 0 {
            let mut spans = std::mem::take(&mut head);
            spans.push(Span::styled(r, text_style));
            rows.push(Row::from(spans));
        } else {
            rows.push(Row::from(vec![
                Span::raw(" ".repeat(indent)),
                Span::styled(r, text_style),
            ]));
        }
    }
    rows
}

fn draw_messages(f: &mut Frame<'_>, chat: &mut Chat, area: Rect, now: i64) {
    let cols = area.width.saturating_sub(2) as usize;
    let height = area.height.saturating_sub(2) as usize;
    let b = &chat.buffers[chat.active];
    let mut rows: Vec<Row<'static>> = Vec::new();
    if !b.more_history && b.kind != Kind::Server {
        rows.push(Row::from(Span::styled(
            "— the start of this conversation —",
            Style::default().fg(Color::DarkGray),
        )));
    }
    for l in &b.lines {
        rows.extend(line_rows(l, cols, now));
    }
    let total = rows.len();
    let max_scroll = total.saturating_sub(height);
    let scroll = b.scroll.min(max_scroll);
    let end = total - scroll;
    let start = end.saturating_sub(height);
    let shown: Vec<Row<'static>> = rows.drain(start..end).collect();
    let title = match b.kind {
        Kind::Server => format!(
            " {} ",
            chat.srv.name.clone().unwrap_or_else(|| "server".into())
        ),
        Kind::Channel => {
            let members = match b.members.len() {
                1 => "1 member".to_string(),
                n => format!("{n} members"),
            };
            let t = match b.topic.as_deref().filter(|t| !t.is_empty()) {
                Some(topic) => format!(" {} · {members} · {topic}", b.name),
                None => format!(" {} · {members}", b.name),
            };
            format!("{} ", truncate(&t, cols.saturating_sub(2)))
        }
        Kind::Query => format!(" {} ", chat.shown_name(&b.name)),
    };
    let mut block = Block::default().borders(Borders::ALL).title(title);
    if scroll > 0 {
        block = block.title_bottom(format!(" ↑ {scroll} rows up — PageDown returns "));
    }
    f.render_widget(Paragraph::new(shown).block(block), area);
    chat.buffers[chat.active].scroll = scroll;
    chat.view = crate::state::View {
        rows: height,
        total,
    };
}

fn draw_friends(f: &mut Frame<'_>, chat: &Chat, area: Rect) {
    let inner_w = area.width.saturating_sub(2) as usize;
    let mut friends: Vec<_> = chat.friends.values().collect();
    // Online first, then by name.
    friends.sort_by_key(|f| (f.online != Some(true), f.nick.to_lowercase()));
    let rows: Vec<Row<'static>> = friends
        .into_iter()
        .map(|fr| {
            let (mark, style) = match fr.online {
                Some(true) if fr.away => ("◐ ", Style::default().fg(Color::Yellow)),
                Some(true) => ("● ", Style::default().fg(Color::Green)),
                Some(false) => ("○ ", Style::default().fg(Color::DarkGray)),
                None => ("· ", Style::default().fg(Color::DarkGray)),
            };
            let shown = chat.shown_name(&fr.nick);
            let name = truncate(&shown, inner_w.saturating_sub(2)).to_string();
            Row::from(vec![Span::styled(mark, style), Span::styled(name, style)])
        })
        .collect();
    let online = chat
        .friends
        .values()
        .filter(|f| f.online == Some(true))
        .count();
    let title = format!(" friends {online}/{} ", chat.friends.len());
    let block = Block::default().borders(Borders::ALL).title(title);
    f.render_widget(Paragraph::new(rows).block(block), area);
}

fn draw_status(f: &mut Frame<'_>, chat: &Chat, area: Rect, now: i64) {
    let conn = match &chat.conn {
        Conn::Connecting => "connecting…".to_string(),
        Conn::Registering => "registering…".to_string(),
        Conn::Online => "connected".to_string(),
        Conn::Down {
            reason,
            retry_at,
            attempt,
        } => match retry_at {
            Some(t) if *t > now => format!(
                "disconnected ({reason}) — reconnecting in {} s (attempt {attempt})",
                (t - now + 999) / 1000
            ),
            Some(_) => format!("disconnected ({reason}) — reconnecting…"),
            None => format!("disconnected ({reason})"),
        },
    };
    let who = match &chat.account {
        Some(a) if !chat.same(a, &chat.nick) => format!("{} ({a})", chat.nick),
        Some(_) => format!("{} ✓", chat.nick),
        None => chat.nick.clone(),
    };
    let typing = chat.typing_here();
    let middle = if !typing.is_empty() {
        format!("{} is typing…", typing.join(", "))
    } else if chat.paced_len() > 0 {
        format!("sending pasted lines: {} to go", chat.paced_len())
    } else {
        chat.notice.clone().unwrap_or_default()
    };
    let left = format!(" {who} · {conn} ");
    let room = (area.width as usize).saturating_sub(width(&left) + 1);
    let text = format!("{left} {}", truncate(&middle, room));
    let style = match chat.conn {
        Conn::Online => Style::default().bg(Color::Blue).fg(Color::White),
        _ => Style::default().bg(Color::Red).fg(Color::White),
    };
    let pad = (area.width as usize).saturating_sub(width(&text));
    f.render_widget(
        Paragraph::new(format!("{text}{}", " ".repeat(pad))).style(style),
        area,
    );
}

fn draw_input(f: &mut Frame<'_>, chat: &Chat, area: Rect) {
    let prompt = format!("[{}] ", chat.active_buffer().name);
    let cols = area.width as usize;
    if let Some(lines) = &chat.input.pasted {
        let first = lines.first().map_or("", |s| s.as_str());
        let text = format!(
            "{prompt}[{} lines pasted: {first}…] Enter sends, Esc cancels",
            lines.len()
        );
        f.render_widget(Paragraph::new(truncate(&text, cols).to_string()), area);
        return;
    }
    let text = chat.input.text();
    let before = width(&prompt) + chat.input.cursor_cells();
    // Scroll the line sideways so the cursor stays on screen.
    let skip = before.saturating_sub(cols.saturating_sub(1));
    let full = format!("{prompt}{text}");
    let mut cells = 0;
    let mut start = 0;
    for (i, c) in full.char_indices() {
        if cells >= skip {
            start = i;
            break;
        }
        cells += crate::wrap::char_width(c);
        start = i + c.len_utf8();
    }
    let shown = truncate(&full[start..], cols).to_string();
    f.render_widget(Paragraph::new(shown), area);
    let x = area.x + (before - cells.min(before)) as u16;
    f.set_cursor_position(Position::new(x.min(area.right().saturating_sub(1)), area.y));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Identity;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn screen(chat: &mut Chat, w: u16, h: u16, now: i64) -> Vec<String> {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| draw(f, chat, now)).unwrap();
        let buf = t.backend().buffer().clone();
        (0..h)
            .map(|y| {
                let mut s = String::new();
                let mut x = 0;
                while x < w {
                    let cell = &buf[(x, y)];
                    s.push_str(cell.symbol());
                    x += width(cell.symbol()).max(1) as u16;
                }
                s
            })
            .collect()
    }

    fn chat() -> Chat {
        let mut c = Chat::new(Identity {
            nick: "alice".into(),
            ..Identity::default()
        });
        c.on_connected(0);
        for l in [
            ":srv CAP * LS :server-time echo-message",
            ":srv CAP alice ACK :server-time echo-message",
            ":srv 001 alice :Welcome",
            ":srv 376 alice :End",
            ":alice!a@h JOIN #room",
        ] {
            c.on_line(l, 0);
        }
        c.switch(1);
        c.drain_out();
        c
    }

    #[test]
    fn layout_shows_conversations_messages_friends_status_and_input() {
        let mut c = chat();
        c.on_line(":srv 730 alice :bob!b@h", 0);
        c.on_line(":srv 731 alice :carol", 0);
        c.on_line(
            "@time=1970-01-01T00:00:01.000Z :bob!b@h PRIVMSG #room :你好 alice, 中文对齐",
            1000,
        );
        c.on_line(":bob!b@h PRIVMSG alice :a private word", 2000);
        let s = screen(&mut c, 100, 12, 3000);
        let all = s.join("\n");
        assert!(s[0].contains(" chats "), "{all}");
        assert!(all.contains("1 server"), "{all}");
        assert!(all.contains("2 #room"), "{all}");
        // The new DM: its own conversation, unread and marked.
        assert!(all.contains("3 bob") && all.contains("!1"), "{all}");
        assert!(all.contains("00:00 <bob> 你好 alice, 中文对齐"), "{all}");
        assert!(all.contains("● bob") && all.contains("○ carol"), "{all}");
        assert!(all.contains("friends 1/2"), "{all}");
        assert!(s[10].contains("alice · connected"), "{all}");
        assert!(s[11].starts_with("[#room] "), "{all}");
    }

    #[test]
    fn long_lines_wrap_under_the_text() {
        let mut c = chat();
        c.on_line(
            ":bob!b@h PRIVMSG #room :one two three four five six seven eight nine ten",
            0,
        );
        let s = screen(&mut c, 60, 10, 0);
        let all = s.join("\n");
        // 60 columns: 22 for the list, 38 for messages (36 inside).
        assert!(
            all.contains("│00:00 <bob> one two three four five │"),
            "{all}"
        );
        assert!(
            all.contains("│            six seven eight nine ten│"),
            "{all}"
        );
    }
}
