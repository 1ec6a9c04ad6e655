DROP TABLE production_lines;
