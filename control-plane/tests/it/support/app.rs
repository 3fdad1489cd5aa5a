//! `TestApp`: the real control plane on port 0 over a test database (pages, APIs and the workers'
//! internal API, as `Application` assembles them), and a small browser-like client that keeps the
//! session cookie and does not follow redirects (tests look at them).

use shoal_control_plane::{Application, Config};
use sqlx::PgPool;
use std::sync::{Arc, Mutex};

#[allow(dead_code)] // some fields serve only the sign-in tests
pub struct TestApp {
    pub url: String,
    pub config: Config,
    pub pool: PgPool,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn spawn(pool: PgPool) -> Self {
        Self::spawn_with(pool, |_| {}).await
    }

    pub async fn spawn_with(pool: PgPool, tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_tests(dir.path().to_path_buf());
        tweak(&mut config);
        let app = Application::build(&config, pool.clone()).await.unwrap();
        let url = format!("http://{}", app.local_addr());
        tokio::spawn(app.run_until(std::future::pending()));
        Self {
            url,
            config,
            pool,
            _dir: dir,
        }
    }

    pub fn browser(&self) -> Browser {
        Browser {
            base: self.url.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: Arc::new(Mutex::new(None)),
        }
    }
}

/// Keeps the `shoal_session` cookie like a browser would.
#[derive(Clone)]
pub struct Browser {
    pub base: String,
    pub http: reqwest::Client,
    pub cookie: Arc<Mutex<Option<String>>>,
}

#[allow(dead_code)]
impl Browser {
    fn absolute(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    fn keep_cookie(&self, resp: &reqwest::Response) {
        for v in resp.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            if let Some(rest) = v.strip_prefix("shoal_session=") {
                let value = rest.split(';').next().unwrap().to_string();
                let expired = v.contains("Max-Age=0") || value.is_empty();
                *self.cookie.lock().unwrap() = (!expired).then(|| format!("shoal_session={value}"));
            }
        }
    }

    pub fn with_cookie(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.cookie.lock().unwrap().clone() {
            Some(c) => req.header("cookie", c),
            None => req,
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        let resp = self
            .with_cookie(self.http.get(self.absolute(path)))
            .send()
            .await
            .unwrap();
        self.keep_cookie(&resp);
        resp
    }

    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let r = self.get(path).await;
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let resp = self
            .with_cookie(self.http.post(self.absolute(path)).form(form))
            .send()
            .await
            .unwrap();
        self.keep_cookie(&resp);
        resp
    }

    /// The CSRF token embedded in a page's forms.
    pub async fn csrf(&self, page: &str) -> String {
        let (_, html) = self.get_text(page).await;
        let at = html.find("name=\"csrf\" value=\"").expect("page has a form");
        html[at + 19..at + 19 + 64].to_string()
    }
}

pub fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}
