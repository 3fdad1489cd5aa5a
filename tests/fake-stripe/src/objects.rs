//! The JSON shapes of the objects the fake serves, as Stripe renders them for API version
//! 2026-09-30 (every field async-stripe requires is present; nullable ones are `null`).

use serde_json::{Value, json};

/// A seeded product and its monthly price.
pub struct Seed {
    /// `prod_...`.
    pub product: &'static str,
    /// Product name.
    pub name: &'static str,
    /// `price_...`.
    pub price: &'static str,
    /// The price's `lookup_key`.
    pub lookup_key: &'static str,
    /// Monthly amount in cents.
    pub unit_amount: i64,
}

/// The products and prices every fake starts with.
pub const SEEDS: [Seed; 2] = [
    Seed {
        product: "prod_shoal_team",
        name: "shoal team",
        price: "price_shoal_team",
        lookup_key: "shoal_team",
        unit_amount: 4900,
    },
    Seed {
        product: "prod_shoal_business",
        name: "shoal business",
        price: "price_shoal_business",
        lookup_key: "shoal_business",
        unit_amount: 49900,
    },
];

/// One billing period, in seconds (the fake bills every 30 days).
pub const PERIOD: i64 = 30 * 24 * 3600;

pub fn list(data: Vec<Value>, url: &str) -> Value {
    json!({"object": "list", "data": data, "has_more": false, "url": url})
}

pub fn customer(id: &str, now: i64, email: Option<&str>, name: Option<&str>, metadata: Value) -> Value {
    json!({
        "id": id, "object": "customer", "created": now, "livemode": false, "email": email, "name": name,
        "metadata": metadata, "balance": 0, "currency": null, "default_source": null, "delinquent": false,
        "description": null, "discount": null, "invoice_prefix": id.trim_start_matches("cus_").to_uppercase(),
        "invoice_settings": {"custom_fields": null, "default_payment_method": null, "footer": null, "rendering_options": null},
        "next_invoice_sequence": 1, "phone": null, "preferred_locales": [], "shipping": null, "tax_exempt": "none",
        "test_clock": null,
    })
}

pub fn product(seed: &Seed, now: i64) -> Value {
    json!({
        "id": seed.product, "object": "product", "active": true, "created": now, "updated": now, "livemode": false,
        "name": seed.name, "description": null, "images": [], "marketing_features": [], "metadata": {},
        "type": "service", "default_price": seed.price, "package_dimensions": null, "shippable": null,
        "statement_descriptor": null, "tax_code": null, "unit_label": null, "url": null,
    })
}

pub fn price(seed: &Seed, now: i64) -> Value {
    json!({
        "id": seed.price, "object": "price", "active": true, "billing_scheme": "per_unit", "created": now,
        "currency": "usd", "custom_unit_amount": null, "livemode": false, "lookup_key": seed.lookup_key,
        "metadata": {}, "nickname": null, "product": seed.product,
        "recurring": {"interval": "month", "interval_count": 1, "meter": null, "trial_period_days": null, "usage_type": "licensed"},
        "tax_behavior": "unspecified", "tiers_mode": null, "transform_quantity": null, "type": "recurring",
        "unit_amount": seed.unit_amount, "unit_amount_decimal": seed.unit_amount.to_string(),
    })
}

/// What a new Checkout session was created with.
pub struct SessionIn<'a> {
    pub id: &'a str,
    pub now: i64,
    pub customer: &'a str,
    pub price: &'a str,
    pub success_url: &'a str,
    pub cancel_url: Option<&'a str>,
    pub client_reference_id: Option<&'a str>,
    pub metadata: Value,
    pub url: &'a str,
}

pub fn checkout_session(s: &SessionIn<'_>, amount: i64) -> Value {
    json!({
        "id": s.id, "object": "checkout.session", "created": s.now, "expires_at": s.now + 24 * 3600,
        "livemode": false, "mode": "subscription", "status": "open", "payment_status": "unpaid",
        "customer": s.customer, "client_reference_id": s.client_reference_id, "metadata": s.metadata,
        "success_url": s.success_url, "cancel_url": s.cancel_url, "url": s.url, "currency": "usd",
        "amount_subtotal": amount, "amount_total": amount, "subscription": null, "invoice": null,
        "payment_intent": null, "payment_method_types": ["card"], "custom_fields": [], "shipping_options": [],
        "automatic_tax": {"enabled": false, "liability": null, "provider": null, "status": null},
        "allow_promotion_codes": null, "billing_address_collection": null, "consent": null,
        "consent_collection": null, "custom_text": {"after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null},
        "customer_creation": null, "customer_details": null, "customer_email": null, "locale": null,
        "payment_link": null, "phone_number_collection": {"enabled": false}, "recovered_from": null,
        "setup_intent": null, "shipping_address_collection": null, "submit_type": null,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
    })
}

pub fn portal_session(id: &str, now: i64, customer: &str, return_url: Option<&str>, url: &str) -> Value {
    json!({
        "id": id, "object": "billing_portal.session", "configuration": "bpc_fake_default", "created": now,
        "customer": customer, "flow": null, "livemode": false, "locale": null, "on_behalf_of": null,
        "return_url": return_url, "url": url,
    })
}

/// What a new subscription is made of.
pub struct SubscriptionIn<'a> {
    pub id: &'a str,
    pub item: &'a str,
    pub now: i64,
    pub customer: &'a str,
    pub price: Value,
    pub metadata: Value,
    pub status: &'a str,
}

pub fn subscription(s: &SubscriptionIn<'_>) -> Value {
    let item = json!({
        "id": s.item, "object": "subscription_item", "created": s.now, "current_period_start": s.now,
        "current_period_end": s.now + PERIOD, "discounts": [], "metadata": {}, "plan": plan(&s.price),
        "price": s.price, "quantity": 1,
        "subscription": s.id, "billing_thresholds": null, "tax_rates": [],
    });
    json!({
        "id": s.id, "object": "subscription", "application": null, "application_fee_percent": null,
        "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null},
        "billing_cycle_anchor": s.now, "billing_cycle_anchor_config": null,
        "billing_mode": {"flexible": null, "type": "classic", "updated_at": null}, "billing_schedules": [],
        "billing_thresholds": null, "cancel_at": null, "cancel_at_period_end": false, "canceled_at": null,
        "cancellation_details": {"comment": null, "feedback": null, "reason": null},
        "collection_method": "charge_automatically", "created": s.now, "currency": "usd", "customer": s.customer,
        "days_until_due": null, "default_payment_method": null, "default_source": null, "description": null,
        "discounts": [], "ended_at": null,
        "invoice_settings": {"account_tax_ids": null, "issuer": {"type": "self"}},
        "items": list(vec![item], &format!("/v1/subscription_items?subscription={}", s.id)),
        "latest_invoice": null, "livemode": false, "metadata": s.metadata, "next_pending_invoice_item_invoice": null,
        "on_behalf_of": null, "pause_collection": null, "payment_settings": null, "pending_invoice_item_interval": null,
        "pending_setup_intent": null, "pending_update": null, "schedule": null, "start_date": s.now,
        "status": s.status, "test_clock": null, "transfer_data": null, "trial_end": null, "trial_settings": null,
        "trial_start": null,
    })
}

/// The legacy `plan` view of a recurring price, which subscription items still carry.
fn plan(price: &Value) -> Value {
    json!({
        "id": price["id"], "object": "plan", "active": true, "amount": price["unit_amount"],
        "billing_scheme": "per_unit", "created": price["created"], "currency": "usd", "interval": "month",
        "interval_count": 1, "livemode": false, "metadata": {}, "meter": null, "nickname": null,
        "product": price["product"], "usage_type": "licensed",
    })
}

/// A subscription's invoice for its current period.
pub fn invoice(id: &str, now: i64, subscription: &Value, paid: bool) -> Value {
    let item = &subscription["items"]["data"][0];
    let amount = item["price"]["unit_amount"].as_i64().unwrap_or(0);
    let (start, end) = (item["current_period_start"].clone(), item["current_period_end"].clone());
    let line = json!({
        "id": format!("il_{}", id.trim_start_matches("in_")), "object": "line_item", "amount": amount,
        "currency": "usd", "description": "1 × shoal (at $ / month)", "discount_amounts": [], "discountable": true,
        "discounts": [], "invoice": id, "livemode": false, "metadata": {}, "period": {"start": start, "end": end},
        "pricing": {"type": "price_details", "price_details": {"price": item["price"]["id"], "product": item["price"]["product"]}, "unit_amount_decimal": amount.to_string()},
        "quantity": 1, "subtotal": amount, "taxes": [], "parent": null,
    });
    json!({
        "id": id, "object": "invoice", "account_country": "US", "account_name": "shoal (fake)",
        "amount_due": amount, "amount_overpaid": 0, "amount_paid": if paid { amount } else { 0 },
        "amount_remaining": if paid { 0 } else { amount }, "amount_shipping": 0, "attempt_count": 1,
        "attempted": true, "auto_advance": !paid,
        "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null, "provider": null, "status": null},
        "issuer": {"type": "self"}, "payment_settings": {"default_mandate": null, "payment_method_options": null, "payment_method_types": null}, "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically", "created": now, "currency": "usd",
        "customer": subscription["customer"], "default_tax_rates": [], "description": null, "discounts": [],
        "due_date": null, "ending_balance": 0, "hosted_invoice_url": null, "invoice_pdf": null,
        "lines": list(vec![line], &format!("/v1/invoices/{id}/lines")), "livemode": false, "metadata": {},
        "next_payment_attempt": if paid { Value::Null } else { json!(now + 3 * 24 * 3600) },
        "number": null,
        "parent": {"type": "subscription_details", "quote_details": null,
                   "subscription_details": {"metadata": subscription["metadata"], "subscription": subscription["id"]}},
        "period_end": end, "period_start": start, "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0, "starting_balance": 0, "status": if paid { "paid" } else { "open" },
        "status_transitions": {"finalized_at": now, "marked_uncollectible_at": null,
                               "paid_at": if paid { json!(now) } else { Value::Null }, "voided_at": null},
        "subtotal": amount, "total": amount, "webhooks_delivered_at": now,
    })
}

pub fn meter_event(now: i64, event_name: &str, identifier: &str, payload: Value, timestamp: i64) -> Value {
    json!({
        "object": "billing.meter_event", "created": now, "event_name": event_name, "identifier": identifier,
        "livemode": false, "payload": payload, "timestamp": timestamp,
    })
}

pub fn event(id: &str, now: i64, type_: &str, object: Value, previous: Option<Value>) -> Value {
    let mut data = json!({"object": object});
    if let Some(p) = previous {
        data["previous_attributes"] = p;
    }
    json!({
        "id": id, "object": "event", "api_version": "2026-09-30.endive", "created": now, "data": data,
        "livemode": false, "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null}, "type": type_,
    })
}
