//! The chunk-plan ribbon under the editor: one block per planned chunk, width proportional to its duration.

use egui::{Align2, CornerRadius, FontId, Sense, Vec2};
use promptbook_engine::check::PlannedChunkReport;

use super::theme;

/// The model renders at most this many seconds per chunk.
const MAX_CHUNK_S: f64 = 15.0;

pub fn show(ui: &mut egui::Ui, plan: &[PlannedChunkReport]) {
    if plan.is_empty() {
        ui.weak("No chunk plan: fix the errors above.");
        return;
    }
    let total: f64 = plan.iter().map(|c| c.duration_s.max(0.1)).sum();
    let height = 34.0;
    let (rect, _) = ui.allocate_exact_size(Vec2::new(ui.available_width(), height), Sense::hover());
    let painter = ui.painter_at(rect);
    let mut x = rect.left();
    for (i, chunk) in plan.iter().enumerate() {
        let width = (chunk.duration_s.max(0.1) / total) as f32 * rect.width();
        let block = egui::Rect::from_min_size(egui::pos2(x, rect.top()), Vec2::new(width - 2.0, height));
        let fill =
            if chunk.duration_s > MAX_CHUNK_S { theme::CHUNK_OVERLONG } else { theme::CHUNK_FILLS[i % 2] };
        painter.rect_filled(block, CornerRadius::same(3), fill);
        let label = format!("{} · {:.1} s", i + 1, chunk.duration_s);
        painter.with_clip_rect(block).text(
            block.left_center() + Vec2::new(6.0, 0.0),
            Align2::LEFT_CENTER,
            label,
            FontId::proportional(12.0),
            theme::CHUNK_TEXT,
        );
        let response = ui.interact(block, ui.scope_id().with(("chunk", i)), Sense::hover());
        let name = format!("Chunk {} · {:.1} s · seed {}", i + 1, chunk.duration_s, chunk.seed);
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, &name));
        response.on_hover_text(format!(
            "Chunk {} — {:.2} s, seed {}\n\n{}\n\nPrompt:\n{}",
            i + 1,
            chunk.duration_s,
            chunk.seed,
            chunk.text,
            chunk.prompt
        ));
        x += width;
    }
}
