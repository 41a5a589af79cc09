-- The fixed set of application roles (a lookup table: it does not scale).
INSERT INTO roles (id, role_name, description, permissions, created_at)
SELECT v.id, v.name, v.description, v.permissions::jsonb,
       m.reference_now - interval '5 years' - interval '1 day'
FROM (VALUES
    (1, 'admin', 'Full administrative access', '{"all": true}'),
    (2, 'owner', 'Account owner, billing and user management', '{"billing": "write", "users": "write", "data": "write"}'),
    (3, 'manager', 'Manages teams and projects', '{"users": "read", "projects": "write", "reports": "read"}'),
    (4, 'editor', 'Creates and edits content', '{"documents": "write", "projects": "read"}'),
    (5, 'analyst', 'Reads reports and exports data', '{"reports": "read", "exports": "write"}'),
    (6, 'support', 'Customer support agent', '{"users": "read", "tickets": "write"}'),
    (7, 'billing', 'Billing and invoicing', '{"billing": "write", "invoices": "write"}'),
    (8, 'auditor', 'Read-only access to audit logs', '{"audit_logs": "read"}'),
    (9, 'developer', 'API and integrations', '{"api": "write", "webhooks": "write"}'),
    (10, 'viewer', 'Read-only access', '{"documents": "read"}'),
    (11, 'guest', 'Limited, invited access', '{"documents": "read", "expires": true}'),
    (12, 'member', 'Regular member', '{"documents": "write", "comments": "write"}')
) AS v(id, name, description, permissions), demo_meta m;
