-- Instant issue (即时补换), postgres flavour. Keep in step with the other
-- backend's migration of the same name and src/schema.rs.
--
-- A task queued for one line (a branch's instant-issue line, whose printer
-- stands at the branch counter) is claimed by that line only; the
-- workshop's lines claim only tasks queued for no line in particular.
ALTER TABLE making_card_tasks ADD COLUMN for_line TEXT;
CREATE INDEX making_card_tasks_for_line ON making_card_tasks (for_line, status, queued_at, id);
