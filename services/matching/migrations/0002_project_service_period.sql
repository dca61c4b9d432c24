-- A project is active (its people busy) only during its fixed service period (定服务期).
ALTER TABLE projects ADD COLUMN service_start date NOT NULL DEFAULT '-infinity';
ALTER TABLE projects ADD COLUMN service_end date NOT NULL DEFAULT 'infinity';
CREATE INDEX projects_active ON projects (service_end) WHERE status = 'active';
