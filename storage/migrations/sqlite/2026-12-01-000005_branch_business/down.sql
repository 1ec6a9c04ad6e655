DROP TABLE self_service_machines;
DROP TABLE branch_operations;
DROP TABLE application_evidence;
DROP TABLE id_reads;
ALTER TABLE operators DROP COLUMN manual_entry;
