//! The relay page as the way back, in a real headless Chromium.

use fake_openrouter::relay_site;

use crate::{
    ONE_AT_A_TIME, SCHEME_CALLBACK, assert_still_waiting, choose_deep_link, fake_modes,
    held_desktop, held_redirect, wrong_secret,
};

/// Through the relay page, in the real window and a real headless
/// Chromium, in both of the fake's modes and both of the page's ways: the
/// loopback way (Chromium runs the page, which forwards to the app's
/// listener) and the scheme way (Chromium's page says where it forwards
/// to, and the desktop hands that link to the app; headless Chromium opens
/// no app for a scheme). Forged page links go first: without the secret
/// the page forwards nothing, and with a wrong one the app turns the
/// answer away.
#[tokio::test]
async fn the_relay_page_connects_the_app_both_ways_in_both_modes() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let relay = relay_site::serve_relay().await;
    let page = format!("http://{relay}/relay/index.html");
    let chromium = relay_site::Chromium::start().await;
    for (echo, mode) in fake_modes() {
        for scheme_way in [false, true] {
            let way = if scheme_way { "scheme" } else { "loopback" };
            let env = vec![("OPENROUTER_CONNECT_RELAY_URL".to_owned(), page.clone())];
            let desktop = held_desktop(&format!("relay-{way}-{mode}"), echo, env).await;
            let session = desktop.launch().await;
            if scheme_way {
                choose_deep_link(&session).await;
            }
            session.click("connect").await.unwrap();
            let redirect = held_redirect(&desktop, echo).await;
            assert!(redirect.starts_with(&format!("{page}?")), "{redirect}");
            let answer = url::Url::parse(&redirect).unwrap();
            let value = |name: &str| {
                answer
                    .query_pairs()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.into_owned())
            };
            let way_back = if scheme_way {
                assert_eq!(value("to").as_deref(), Some("app"), "{redirect}");
                "to=app".to_owned()
            } else {
                format!("port={}", value("port").expect("the port"))
            };
            assert_eq!(value("s").map(|s| s.len()), Some(43), "{redirect}");

            // A forged link without the secret: the page passes nothing on.
            chromium
                .client
                .goto(&format!("{page}?{way_back}&error=access_denied"))
                .await
                .unwrap();
            assert_eq!(
                chromium.title_becomes(relay_site::REFUSED_TITLE).await,
                relay_site::REFUSED_TITLE
            );
            // With a wrong secret, the page passes it on and the app turns
            // it away.
            let forged = format!("{way_back}&s={}&error=access_denied", wrong_secret());
            if scheme_way {
                let target = chromium.destination(&format!("?{forged}")).await;
                let link = target["url"].as_str().expect("a destination").to_owned();
                assert!(desktop.open_link(&link), "{link}");
            } else {
                chromium
                    .client
                    .goto(&format!("{page}?{forged}"))
                    .await
                    .unwrap();
                let text = chromium.js("return document.body.innerText;").await;
                assert!(
                    text.as_str().unwrap_or_default().contains("Nothing here"),
                    "{text}"
                );
            }
            assert_still_waiting(&desktop, &session, "a forged denial by the relay page").await;

            if scheme_way {
                let search = format!("?{}", answer.query().unwrap());
                let target = chromium.destination(&search).await;
                let link = target["url"].as_str().expect("a destination").to_owned();
                assert!(link.starts_with(&format!("{SCHEME_CALLBACK}/")), "{link}");
                assert!(desktop.open_link(&link), "{link}");
            } else {
                chromium.client.goto(&redirect).await.unwrap();
            }
            session.wait_for_state("connected").await.unwrap();
            desktop.assert_no_secret_leaks(&session).await;
            session.quit().await.unwrap();
        }
    }
}
